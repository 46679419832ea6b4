"""The delivery worker: claims due outbox rows under a lease, POSTs each one signed (Standard Webhooks), and
retries failures with exponential backoff and jitter until the retry window closes, then marks them dead.

It runs as a thread inside `hearken serve` and as `hearken worker`; any number may run against one database.
A row is claimed with a conditional UPDATE that only succeeds while nobody else holds an unexpired lease, so two
workers never send the same delivery at the same time, on SQLite (one writer) and PostgreSQL (READ COMMITTED
re-checks the condition on the row it waited for). Each delivery's outcome is its own short transaction.
"""

import base64
import hashlib
import hmac
import json
import logging
import random
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.clients.models import ApiClient
from api.config import get_settings
from api.db import open_session, utcnow
from api.webhooks import service, targets
from api.webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint

log = logging.getLogger("hearken.webhooks")

BACKOFF_BASE = timedelta(seconds=10)
BACKOFF_CAP = timedelta(hours=2)
LEASE = timedelta(minutes=5)
BATCH = 10
USER_AGENT = "Hearken-Webhooks/1"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: HMAC-SHA256 over "{id}.{timestamp}.{body}" with the decoded secret."""
    key = base64.b64decode(secret.removeprefix(service.SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def backoff(attempts: int, rand: float) -> timedelta:
    """The wait after the n-th failed attempt: doubling from 10 s up to 2 h, half of it fixed and half random
    ("equal jitter") so many failing deliveries do not come back all at once."""
    delay = min(BACKOFF_CAP.total_seconds(), BACKOFF_BASE.total_seconds() * 2 ** max(0, attempts - 1))
    return timedelta(seconds=delay / 2 + rand * delay / 2)


class Worker:
    def __init__(self, *, now: Callable[[], datetime] = utcnow, rand: Callable[[], float] = random.random,
                 timeout: float | None = None, lease: timedelta = LEASE, batch: int = BATCH,
                 transport: httpx.BaseTransport | None = None):
        seconds = get_settings().webhook_timeout_seconds if timeout is None else timeout
        self.now, self.rand, self.lease, self.batch = now, rand, lease, batch
        # Connect, write, read and pool each have the timeout; an attempt is given all four before its lease ends.
        self.attempt_budget = timedelta(seconds=4 * seconds + 1)
        self.http = httpx.Client(timeout=httpx.Timeout(seconds, connect=min(seconds, 5.0)), follow_redirects=False,
                                 transport=transport, headers={"user-agent": USER_AGENT})

    def close(self) -> None:
        self.http.close()

    def run(self, stop: threading.Event, interval: float) -> None:
        """Deliver until `stop` is set: at once while work is due, otherwise every `interval` seconds."""
        while not stop.is_set():
            try:
                done = self.run_once(stop)
            except Exception:
                log.exception("webhook worker: a round failed; trying again shortly")
                done = 0
            if not done:
                stop.wait(interval)

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Claim what is due and deliver it; answers how many deliveries were claimed."""
        token, claimed = self.claim()
        try:
            for delivery_id, locked_until in claimed:
                if (stop is not None and stop.is_set()) or self.now() + self.attempt_budget > locked_until:
                    break
                try:
                    self.deliver(delivery_id, token)
                except Exception:
                    # A delivery that cannot even be prepared counts as a failed attempt, so it backs off (and
                    # in the end dies) instead of coming back on every round.
                    log.exception("webhook delivery %s could not be attempted", delivery_id)
                    self._finish(delivery_id, token, error="the server could not prepare this delivery")
        finally:
            if claimed:
                self._release(token)
        return len(claimed)

    def claim(self) -> tuple[uuid.UUID, list[tuple[uuid.UUID, datetime]]]:
        """Lease a few due deliveries to this worker. Nothing is written when nothing is due."""
        now, token = self.now(), uuid.uuid4()
        free = sa.or_(col(WebhookDelivery.locked_until).is_(None), col(WebhookDelivery.locked_until) < now)
        due = [WebhookDelivery.state == DeliveryState.pending, col(WebhookDelivery.next_attempt_at) <= now, free]
        with open_session(read_only=True) as session:
            ids = list(session.exec(select(WebhookDelivery.id).where(*due)
                                    .order_by(col(WebhookDelivery.next_attempt_at)).limit(self.batch)))
        if not ids:
            return token, []
        until = now + self.lease
        with open_session() as session:
            session.execute(sa.update(WebhookDelivery).where(col(WebhookDelivery.id).in_(ids), *due)
                            .values(locked_until=until, lock_token=token)
                            .execution_options(synchronize_session=False))
            mine = list(session.exec(select(WebhookDelivery.id).where(WebhookDelivery.lock_token == token)
                                     .order_by(col(WebhookDelivery.next_attempt_at))))
            session.commit()
        return token, [(i, until) for i in mine]

    def _release(self, token: uuid.UUID) -> None:
        with open_session() as session:
            session.execute(sa.update(WebhookDelivery).where(col(WebhookDelivery.lock_token) == token)
                            .values(locked_until=None, lock_token=None).execution_options(synchronize_session=False))
            session.commit()

    def deliver(self, delivery_id: uuid.UUID, token: uuid.UUID) -> None:
        """One attempt: render, sign, POST, record the outcome."""
        with open_session(read_only=True) as session:
            loaded = self._load(session, delivery_id, token)
            if loaded is None:
                return
            delivery, endpoint, client = loaded
            body = service.payload(session, delivery, client) if self._active(client) else None
            reason = ("no longer visible to this client" if self._active(client)
                      else "the API client was revoked or has expired")
        if body is None:
            self._finish(delivery_id, token, skipped=reason)
            return
        raw = json.dumps(body, separators=(",", ":")).encode()
        msg_id, timestamp = str(delivery.id), int(self.now().timestamp())
        headers = {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": sign(endpoint.secret, msg_id, timestamp, raw)}
        status: int | None = None
        error: str | None = None
        try:
            # Resolved and checked now, and the connection goes to that address (see targets.py).
            target = targets.pin(endpoint.url)
        except targets.TargetRefused as exc:
            self._finish(delivery_id, token, error=str(exc)[:300])
            return
        extensions = {"sni_hostname": target.server_name} if target.server_name else {}
        try:
            with self.http.stream("POST", target.url, content=raw, headers={**headers, "host": target.host},
                                  extensions=extensions) as response:
                status = response.status_code
            if not 200 <= status < 300:
                error = f"the endpoint answered {status}"
        except httpx.TimeoutException:
            error = "timed out"
        except Exception as exc:  # refused, reset, bad certificate, a host name that will not encode...
            error = f"{type(exc).__name__}: {exc}"
        self._finish(delivery_id, token, status=status, error=error)

    @staticmethod
    def _load(session: Session, delivery_id: uuid.UUID,
              token: uuid.UUID) -> tuple[WebhookDelivery, WebhookEndpoint, ApiClient] | None:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.lock_token != token:
            return None  # deleted with its endpoint, or the lease was lost
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        client = session.get(ApiClient, endpoint.client_id) if endpoint else None
        if endpoint is None or client is None:
            return None
        return delivery, endpoint, client

    def _active(self, client: ApiClient) -> bool:
        return client.revoked_at is None and (client.expires_at is None or client.expires_at > self.now())

    def _finish(self, delivery_id: uuid.UUID, token: uuid.UUID, *, status: int | None = None,
                error: str | None = None, skipped: str | None = None) -> None:
        now = self.now()
        with open_session() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None or delivery.lock_token != token:
                return
            delivery.locked_until, delivery.lock_token = None, None
            if skipped:
                delivery.state, delivery.last_error = DeliveryState.skipped, skipped
            else:
                delivery.attempts += 1
                delivery.last_attempt_at, delivery.last_status = now, status
                delivery.last_error = error[:300] if error else None
                if error is None:
                    delivery.state, delivery.delivered_at = DeliveryState.delivered, now
                elif now >= delivery.retry_until:
                    delivery.state = DeliveryState.dead
                    log.warning("webhook delivery %s is dead after %d attempts: %s", delivery.id,
                                delivery.attempts, error)
                else:
                    # The last try falls at the window's end, so every delivery is tried for the whole window.
                    delivery.next_attempt_at = min(now + backoff(delivery.attempts, self.rand()),
                                                   delivery.retry_until)
            session.add(delivery)
            session.commit()


def start_in_background(interval: float) -> Callable[[], None]:
    """Start a worker thread (inside `hearken serve`); answers the function that stops it."""
    stop = threading.Event()
    worker = Worker()
    thread = threading.Thread(target=worker.run, args=(stop, interval), name="hearken-webhooks", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(timeout=worker.attempt_budget.total_seconds() + 5)
        if not thread.is_alive():
            worker.close()

    return halt
