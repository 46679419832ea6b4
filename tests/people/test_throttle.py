"""Guessing is throttled race-free, per (email, client address) and per client address, so a guesser is
stopped without locking the owner out; enrolment codes are limited per address and overall."""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, func, select

from api.config import get_settings
from api.db import utcnow
from api.errors import Unauthorized
from api.people import security, service
from api.people.models import AuthToken, TokenKind
from tests.factories import PASSWORD, World, make_world
from tests.support.apps import from_address
from tests.support.live_server import LiveServer


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set HEARKEN_* for one test (no added delays unless asked: they only make a test slow)."""
    monkeypatch.setenv("HEARKEN_LOGIN_SLOW_AFTER", "1000")
    monkeypatch.setenv("HEARKEN_LOGIN_ADDRESS_SLOW_AFTER", "1000")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def login(client, email: str, password: str = PASSWORD) -> httpx.Response:  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_thirty_parallel_guesses_never_fail_and_no_more_than_the_limit_are_checked(
        engine, world, tmp_path: Path) -> None:
    """Issue 10 item 3: on PostgreSQL, parallel guesses collided on the throttle's primary key (500) and
    all of them were checked; the right password at guess 150 got in."""
    with LiveServer(tmp_path / "live") as server, httpx.Client(base_url=server.url, timeout=60) as http:
        def guess(i: int) -> int:
            password = PASSWORD if i == 59 else f"guess {i}"
            return login(http, world.researcher.email, password).status_code

        with ThreadPoolExecutor(30) as pool:
            codes = list(pool.map(guess, range(60)))
    assert not [c for c in codes if c >= 500], (codes, server.log_tail())
    assert set(codes) <= {401, 429, 200}
    assert codes.count(401) + codes.count(200) <= get_settings().login_lock_after, codes
    assert 429 in codes


def test_a_guesser_is_refused_but_the_owner_logs_in_from_elsewhere(world, settings) -> None:
    """Issue 10 item 6: ten wrong passwords from anywhere used to lock the account for everyone."""
    attacker, owner = from_address("203.0.113.7"), from_address("198.51.100.20")
    for _ in range(get_settings().login_lock_after):
        assert login(attacker, world.researcher.email, "wrong guess").status_code == 401
    refused = login(attacker, world.researcher.email, PASSWORD)
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_attempts"
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert login(owner, world.researcher.email).status_code == 200


def test_an_ipv6_guesser_cannot_escape_by_changing_address_within_its_64(world, settings) -> None:
    settings.setenv("HEARKEN_LOGIN_LOCK_AFTER", "3")
    get_settings.cache_clear()
    for i in range(3):
        assert login(from_address(f"2001:db8:1:2::{i + 1}"), world.researcher.email, "x" * 12).status_code == 401
    assert login(from_address("2001:db8:1:2::99"), world.researcher.email).status_code == 429
    assert login(from_address("2001:db8:1:3::1"), world.researcher.email).status_code == 200


def test_password_spraying_across_forty_emails_is_refused(world, settings) -> None:
    """Issue 10 item 6: one password tried on 40 emails (real and made up) from one address was not slowed."""
    sprayer, elsewhere = from_address("203.0.113.9"), from_address("198.51.100.21")
    emails = [world.admin.email, world.coordinator.email] + [f"person{i}@example.org" for i in range(38)]
    codes = [login(sprayer, email, "Spring2026!!").status_code for email in emails]
    limit = get_settings().login_address_lock_after
    assert codes[:limit] == [401] * limit and set(codes[limit:]) == {429}, codes
    assert login(sprayer, world.researcher.email).status_code == 429  # right password, guessing address
    assert login(elsewhere, world.researcher.email).status_code == 200


def test_spraying_is_slowed_before_it_is_refused(world, settings) -> None:
    import time

    settings.setenv("HEARKEN_LOGIN_ADDRESS_SLOW_AFTER", "2")
    get_settings.cache_clear()
    sprayer = from_address("203.0.113.10")
    for i in range(2):
        login(sprayer, f"p{i}@example.org", "wrong password")
    started = time.monotonic()
    assert login(sprayer, "p3@example.org", "wrong password").status_code == 401
    assert time.monotonic() - started >= 0.25


def test_a_right_password_clears_its_own_count_only(world, settings) -> None:
    settings.setenv("HEARKEN_LOGIN_LOCK_AFTER", "3")
    get_settings.cache_clear()
    me = from_address("198.51.100.30")
    for _ in range(2):
        assert login(me, world.researcher.email, "typo typo typo").status_code == 401
    assert login(me, world.researcher.email).status_code == 200
    for _ in range(3):
        assert login(me, world.researcher.email, "typo typo typo").status_code == 401  # counted afresh


def _code(client, world: World) -> str:  # type: ignore[no-untyped-def]
    r = client.post(f"/api/v1/projects/{world.project.id}/enrolment-codes", json={"user_id": str(world.researcher.id)},
                    headers=world.headers("coordinator"))
    assert r.status_code == 201, r.text
    return r.json()["code"]


def test_enrolment_code_guessing_is_limited_per_address(client, world, settings) -> None:
    """Issue 10 item 12: 150 wrong codes in 2.8 s, all 401."""
    code = _code(client, world)
    guesser, phone = from_address("203.0.113.11"), from_address("198.51.100.40")
    limit = get_settings().enrol_address_lock_after
    codes = [guesser.post("/api/v1/auth/enrol", json={"code": f"ZZZZ{i:04d}"}).status_code for i in range(limit + 2)]
    assert codes == [401] * limit + [429, 429], codes
    refused = guesser.post("/api/v1/auth/enrol", json={"code": code})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert phone.post("/api/v1/auth/enrol", json={"code": code}).status_code == 200
    again = phone.post("/api/v1/auth/enrol", json={"code": code})
    assert again.status_code == 401 and again.json()["code"] == "invalid_code"  # single use, as before


def test_enrolment_code_guessing_spread_over_addresses_is_limited_overall(client, world, settings) -> None:
    settings.setenv("HEARKEN_ENROL_GLOBAL_LOCK_AFTER", "5")
    get_settings.cache_clear()
    code = _code(client, world)
    codes = [from_address(f"203.0.113.{20 + i}").post("/api/v1/auth/enrol", json={"code": "WRONGCODE"}).status_code
             for i in range(6)]
    assert codes == [401] * 5 + [429], codes
    assert from_address("198.51.100.41").post("/api/v1/auth/enrol", json={"code": code}).status_code == 429


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite has one writer: the two enrols cannot overlap
def test_one_code_sent_by_two_phones_at_once_enrols_one_phone(client, world, engine, monkeypatch) -> None:
    """Both requests read the code unused before either claims it: only one may get a device token."""
    code = _code(client, world)
    both_checked = threading.Barrier(2, timeout=10)
    checks: set[int] = set()

    def now_after_both_checked() -> datetime:  # the expiry check, right after the code was read
        if threading.get_ident() not in checks:
            checks.add(threading.get_ident())
            both_checked.wait()
        return utcnow()

    monkeypatch.setattr(service, "utcnow", now_after_both_checked)

    def enrol(label: str) -> str:
        with Session(engine) as s:
            try:
                service.enrol(s, code, label, f"198.51.100.{60 + len(label)}")
            except Unauthorized:
                return "refused"
            s.commit()
            return "enrolled"

    with ThreadPoolExecutor(2) as pool:
        answers = sorted(pool.map(enrol, ["a phone", "another phone"]))
    assert answers == ["enrolled", "refused"]
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(AuthToken).where(AuthToken.kind == TokenKind.device)).one() == 1


def test_password_hashes_run_a_few_at_a_time_and_a_burst_is_told_to_come_back(client, world, monkeypatch) -> None:
    """Each argon2 hash holds its memory cost (64 MiB) while it runs: past the slots, a login waits a little, then
    answers 503 with Retry-After instead of piling up in memory and in the threads phones sync on."""
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(security, "HASH_SLOTS", slots)
    monkeypatch.setattr(security, "HASH_WAIT_SECONDS", 0.2)
    assert slots.acquire()  # another sign-in is hashing
    try:
        r = login(client, world.researcher.email)
        assert r.status_code == 503 and r.json()["code"] == "busy" and r.headers["Retry-After"] == "5"
    finally:
        slots.release()
    assert login(client, world.researcher.email).status_code == 200


def test_one_address_cannot_use_up_the_overall_limit(client, world, settings) -> None:
    """Past its own limit an address is refused without counting overall: locking out everyone takes many."""
    settings.setenv("HEARKEN_ENROL_GLOBAL_LOCK_AFTER", "15")
    get_settings.cache_clear()
    code = _code(client, world)
    guesser = from_address("203.0.113.70")
    answers = [guesser.post("/api/v1/auth/enrol", json={"code": "WRONGCODE"}).status_code for _ in range(40)]
    limit = get_settings().enrol_address_lock_after
    assert answers == [401] * limit + [429] * (40 - limit)
    assert from_address("198.51.100.70").post("/api/v1/auth/enrol", json={"code": code}).status_code == 200


def test_a_training_day_enrols_many_phones_from_one_address(client, world, settings) -> None:
    """Right codes are not guesses: a coordinator enrolling a room full of phones is never refused."""
    room = from_address("198.51.100.50")
    for _ in range(get_settings().enrol_address_lock_after + 2):
        assert room.post("/api/v1/auth/enrol", json={"code": _code(client, world)}).status_code == 200
