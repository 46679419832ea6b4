"""Webhooks cannot be aimed into the deployment's own network (SSRF): only https URLs whose host resolves to public
addresses, checked at registration and again at delivery, where the connection goes to the address checked."""

import socket
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from api.config import get_settings
from api.webhooks import targets
from api.webhooks.models import WebhookDelivery
from tests.factories import capture_batch, sync
from tests.webhooks.test_webhooks import TIMEOUT, Worker, bearer, make_api_client, register

PUBLIC = "93.184.215.14"


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch, engine) -> None:  # type: ignore[no-untyped-def]
    """No allowed hosts: the rules as a deployment without HEARKEN_WEBHOOK_ALLOWED_HOSTS has them."""
    monkeypatch.setenv("HEARKEN_WEBHOOK_ALLOWED_HOSTS", "")
    get_settings.cache_clear()


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names this test resolves (the machine has no DNS); each lookup takes the next answer when several."""
    answers: dict[str, list[str]] = {}

    def getaddrinfo(host: str, port: Any, *args: Any, **kw: Any) -> list[Any]:
        if host not in answers:
            raise socket.gaierror(f"unknown host {host}")
        address = answers[host][0] if len(answers[host]) == 1 else answers[host].pop(0)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(targets.socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost.test/hook", "https://10.1.2.3/hook", "https://192.168.1.1/",
    "https://172.16.0.9/", "https://169.254.169.254/latest/meta-data/", "https://[::1]/", "https://[fd00:ec2::254]/",
    "https://[::ffff:127.0.0.1]/", "https://100.64.0.1/", "https://224.0.0.1/", "https://0.0.0.0/",
    "https://240.0.0.1/", "https://metadata.test/", f"http://{PUBLIC}/hook", "https://nowhere.test/"])
def test_private_loopback_metadata_and_plain_http_targets_are_refused(client, world, strict, dns, url) -> None:
    dns.update({"localhost.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"]})
    token = make_api_client(client, world)
    r = client.post("/api/v1/webhooks", json={"url": url, "events": ["tag.changed"]}, headers=bearer(token))
    assert (r.status_code, r.json()["code"]) == (422, "webhook_target_refused"), r.text


def test_a_public_https_target_is_accepted(client, world, strict, dns) -> None:
    dns["hooks.partner.test"] = [PUBLIC]
    token = make_api_client(client, world)
    assert register(client, token, f"https://{PUBLIC}/hook")["url"] == f"https://{PUBLIC}/hook"
    assert register(client, token, "https://hooks.partner.test/in")["url"] == "https://hooks.partner.test/in"


def test_an_allowed_host_may_be_private_and_plain_http(client, world, monkeypatch) -> None:
    monkeypatch.setenv("HEARKEN_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1, Hooks.Internal")
    get_settings.cache_clear()
    token = make_api_client(client, world)
    register(client, token, "http://127.0.0.1:9/hook")
    register(client, token, "http://hooks.internal/hook")


def test_delivery_connects_to_the_checked_address_and_a_rebinding_is_refused(client, world, session: Session,
                                                                             strict, dns) -> None:
    dns["hooks.partner.test"] = [PUBLIC, PUBLIC, "127.0.0.1"]  # registration, first delivery, then a rebinding
    token = make_api_client(client, world)
    register(client, token, "https://hooks.partner.test/in?x=1", ["fragment.created"])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    w = Worker(timeout=TIMEOUT, transport=httpx.MockTransport(handler))
    sync(client, world, capture_batch(world, 1))
    w.run_once()
    assert len(seen) == 1
    assert seen[0].url.host == PUBLIC and seen[0].url.path == "/in" and seen[0].url.query == b"x=1"
    assert seen[0].headers["host"] == "hooks.partner.test"
    assert seen[0].extensions.get("sni_hostname") == "hooks.partner.test"

    sync(client, world, capture_batch(world, 1))
    w.run_once()
    assert len(seen) == 1, "the name now points at loopback: nothing was sent"
    session.rollback()
    failed = [d for d in session.exec(select(WebhookDelivery)).all() if d.last_error]
    assert len(failed) == 1 and "not on the public internet" in failed[0].last_error
    w.close()
