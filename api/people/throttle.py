"""Throttling of guesses (logins, enrolment and workshop codes): counters per key in fixed windows, race-free.

Each attempt is counted *before* the secret is checked, with one atomic statement (INSERT … ON CONFLICT DO
UPDATE … RETURNING) in a short transaction of its own. Thirty parallel guesses therefore see thirty different
counts, and no more than the limit is ever evaluated in a window — on PostgreSQL as on SQLite — where reading
a row and writing it back let parallel requests all pass (and collide on the primary key). The transaction is
committed before the slow password hash runs, so it holds no lock while it does.

Keys follow OWASP's advice and django-axes' "username and IP address" combination: a login is counted per
(email, client address), so a guesser is stopped without locking the owner out of a login from elsewhere, and
per client address across emails, so spraying one password over many accounts is slowed and then refused.
Emails are hashed and counted whether an account exists or not. An IPv6 client counts by its /64 (one
subscriber usually holds a whole /64).
"""

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from api.config import get_settings
from api.db import open_session, utcnow
from api.errors import TooManyRequests
from api.people.models import LoginThrottle
from api.people.security import digest


@dataclass(frozen=True)
class Count:
    key: str
    attempts: int
    window_started_at: datetime


def address_of(host: str | None) -> str:
    """The part of a client's address that identifies one subscriber: the address, or its /64 for IPv6."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host  # a test client's or a proxy's name: counted as given
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_address(request: Request) -> str:
    """The request's client, as counted here. uvicorn puts the forwarded client in request.client only for
    trusted proxies (FORWARDED_ALLOW_IPS)."""
    return address_of(request.client.host if request.client else None)


def key(kind: str, *parts: str) -> str:
    return f"{kind}:" + digest("\n".join(parts))


def count(keys: list[str], window: timedelta) -> list[Count]:
    """Add one attempt to each key, in a transaction of its own, and answer each key's count in its window."""
    now = utcnow()
    with open_session() as session:
        counts = [_bump(session, k, now, window) for k in keys]
        session.commit()
    return counts


def count_code_guess(kind: str, address: str, refusal: str) -> list[Count]:
    """Count a try of a short code (a phone's enrolment code, a workshop's join code) per client address and
    overall, and refuse it with 429 past either limit: the overall count stops a guesser who has many addresses.
    A right code is taken back off both (`uncount_all`), so a room of phones behind one address all get in."""
    settings = get_settings()
    window = timedelta(minutes=settings.login_lock_minutes)
    counts: list[Count] = []
    # The address first: once it is refused, its tries no longer count overall, so one address cannot use up the
    # overall limit and lock everyone else out (it takes many addresses).
    for k, limit in ((key(f"{kind}-address", address), settings.enrol_address_lock_after),
                     (f"{kind}:*", settings.enrol_global_lock_after)):
        (c,) = count([k], window)
        counts.append(c)
        if c.attempts > limit:
            raise TooManyRequests(refusal, code="too_many_attempts",
                                  headers={"Retry-After": str(retry_after(c, window))})
    return counts


def uncount_all(session: Session, counts: list[Count]) -> None:
    for c in counts:
        uncount(session, c.key)


def count_in(session: Session, k: str, window: timedelta) -> Count:
    """Add one attempt to a key inside the caller's transaction, for a request that already holds the write lock
    (its failure must then be raised with keep_changes=True so the count is kept)."""
    return _bump(session, k, utcnow(), window)


def _bump(session: Session, k: str, now: datetime, window: timedelta) -> Count:
    table = LoginThrottle.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    at = table.c.window_started_at
    stale = at <= sa.literal(now - window, at.type)
    stmt = insert.values(key=k, attempts=1, window_started_at=now).on_conflict_do_update(
        index_elements=[table.c.key],
        set_={"attempts": sa.case((stale, 1), else_=table.c.attempts + 1),
              "window_started_at": sa.case((stale, sa.literal(now, at.type)), else_=at)},
    ).returning(table.c.attempts, at)
    attempts, started = session.execute(stmt).one()
    return Count(k, attempts, started)


def forget(session: Session, k: str) -> None:
    """Clear a key (a right password clears its email-and-address count)."""
    session.execute(sa.delete(LoginThrottle.__table__).where(LoginThrottle.__table__.c.key == k))  # type: ignore[attr-defined]


def uncount(session: Session, k: str) -> None:
    """Take back one attempt that turned out right (a success is not a guess; counted only to be race-free)."""
    table = LoginThrottle.__table__  # type: ignore[attr-defined]
    session.execute(sa.update(table).where(table.c.key == k, table.c.attempts > 0)
                    .values(attempts=table.c.attempts - 1))


def retry_after(c: Count, window: timedelta) -> int:
    """Whole seconds until the count's window ends (at least 1), for a Retry-After header."""
    return max(1, math.ceil((c.window_started_at + window - utcnow()).total_seconds()))


def slowdown(over: int) -> float:
    """Seconds to hold back the answer to a failure `over` failures past the slow-down point: 0.25 s doubling
    to at most 4 s. The wait happens outside any transaction (see api.main's error handler)."""
    return min(0.25 * 2 ** (over - 1), 4.0) if over > 0 else 0.0
