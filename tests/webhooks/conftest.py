"""A real receiving HTTP server on loopback that can fail, time out and recover; a clock the test moves."""

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlmodel import Session

from tests.factories import World, make_world

TIMEOUT = 0.5  # the worker's HTTP timeout in these tests; "slow" answers come later than this


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int | None

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next planned behaviour ("ok", "fail" = 500, "slow" = past the timeout, then 200),
    and "ok" once the plan runs out (or `default`)."""

    url: str = ""
    plan: list[str] = field(default_factory=list)
    default: str = "ok"
    delay: float = 0.0  # every answer waits this long (to make deliveries overlap)
    received: list[Received] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_behaviour(self) -> str:
        with self.lock:
            return self.plan.pop(0) if self.plan else self.default

    def ok(self) -> list[Received]:
        return [r for r in self.received if r.answered == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            msg_id = self.headers.get("webhook-id", "")
            with state.lock:
                if state.in_flight.get(msg_id):
                    state.overlaps.append(msg_id)
                state.in_flight[msg_id] = state.in_flight.get(msg_id, 0) + 1
            behaviour = state.next_behaviour()
            received = Received({k.lower(): v for k, v in self.headers.items()}, body, None)
            state.received.append(received)
            try:
                time.sleep(state.delay)
                if behaviour == "slow":
                    time.sleep(TIMEOUT * 3)
                status = 500 if behaviour == "fail" else 200
                if behaviour != "slow":
                    received.answered = status
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the worker gave up waiting and closed the connection
            finally:
                with state.lock:
                    state.in_flight[msg_id] -= 1

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC) + timedelta(minutes=1)  # past every event the test makes

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta

    def set(self, at: datetime) -> None:
        self.at = max(self.at, at)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def _receiver_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests drive the worker themselves (the one inside the app is off in every test, tests/conftest.py).
    The receiver listens on loopback, and example.org does not resolve here: both are allowed as targets."""
    monkeypatch.setenv("HEARKEN_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1,example.org")


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)
