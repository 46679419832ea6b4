"""Where webhooks may go: https URLs whose host resolves only to public addresses (no SSRF into the deployment's own
network: private, loopback, link-local — cloud metadata at 169.254.169.254 included —, shared, multicast, reserved).

Checked twice: when a URL is registered, and at every delivery after resolving the name, where the connection is
then made to the very address that was checked (the Host header and the TLS name stay the URL's), so a DNS answer
that changes between the check and the connection (rebinding) cannot win. Hosts listed in
HEARKEN_WEBHOOK_ALLOWED_HOSTS (names or addresses, for tests and closed networks) skip the address check and may use
plain http.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from api.config import get_settings


class TargetRefused(ValueError):
    pass


@dataclass(frozen=True)
class Pinned:
    url: str  # the URL with the checked address in place of the host name
    host: str  # the Host header
    server_name: str | None  # the TLS name to verify the certificate against (None for a literal address)


def allowed_hosts() -> set[str]:
    return {h.strip().lower().strip("[]") for h in get_settings().webhook_allowed_hosts.split(",") if h.strip()}


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"the host {host!r} does not resolve") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check(url: str) -> None:
    """Refuse a URL that may not receive webhooks (at registration)."""
    pin(url)


def pin(url: str) -> Pinned:
    """The URL to connect to: its host resolved, every address checked, the first one put in its place."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in allowed_hosts():
        return Pinned(url=url, host=parts.netloc.rsplit("@", 1)[-1], server_name=None)
    if parts.scheme != "https":
        raise TargetRefused("webhooks go to https:// URLs only")
    port = parts.port or 443
    addresses = [host] if _literal(host) else resolve(host, port)
    refused = [a for a in addresses if not _public(a)]
    if refused or not addresses:
        raise TargetRefused(f"the host {host!r} is not on the public internet ({', '.join(refused)}); webhooks may "
                            "not reach private, loopback, link-local or metadata addresses")
    address = addresses[0]
    shown = f"[{address}]" if ":" in address else address
    netloc = f"{shown}:{parts.port}" if parts.port else shown
    return Pinned(url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
                  host=parts.netloc.rsplit("@", 1)[-1], server_name=None if _literal(host) else host)
