"""Secrets: argon2 password hashes, opaque bearer tokens kept only as SHA-256, short enrolment codes."""

import hashlib
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.config import get_settings
from api.errors import Busy

# No 0/O or 1/I/L: the code is read aloud and typed on a phone.
ENROLMENT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
ENROLMENT_CODE_LENGTH = 8


@lru_cache
def _hasher(time_cost: int, memory_kib: int) -> tuple[PasswordHasher, str]:
    """The hasher at this cost, and a real hash of that cost to verify against when the email is unknown, so both
    paths take the same time."""
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    return hasher, hasher.hash("not a password anyone has")


def _current() -> tuple[PasswordHasher, str]:
    settings = get_settings()
    return _hasher(settings.password_hash_time_cost, settings.password_hash_memory_kib)


# Each argon2 hash takes its memory cost (64 MiB by default) for its run: as many at once as there are cores. A
# burst of wrong logins waited in threads with 64 MiB each (30 at once took the server from 0.1 to 1.8 GB) and
# held the threads phones sync on.
HASH_SLOTS = threading.BoundedSemaphore(os.cpu_count() or 2)
HASH_WAIT_SECONDS = 5.0


@contextmanager
def _hash_slot() -> Iterator[None]:
    if not HASH_SLOTS.acquire(timeout=HASH_WAIT_SECONDS):
        raise Busy("Too many sign-ins at once; try again in a moment.", retry_after=5)
    try:
        yield
    finally:
        HASH_SLOTS.release()


def hash_password(password: str) -> str:
    with _hash_slot():
        return _current()[0].hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    hasher, dummy = _current()
    try:
        with _hash_slot():
            return hasher.verify(password_hash or dummy, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_enrolment_code() -> str:
    return "".join(secrets.choice(ENROLMENT_ALPHABET) for _ in range(ENROLMENT_CODE_LENGTH))


def normalise_enrolment_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())
