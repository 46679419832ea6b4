"""Settings from HEARKEN_* environment variables. Defaults run a laptop install with nothing set."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEARKEN_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("data")
    database_url: str = ""  # empty means SQLite in data_dir
    webclient_dir: Path | None = None  # the web client served at /app/; the repository's webclient/ by default

    # argon2id cost of a new password hash (passes, memory in KiB): argon2-cffi's defaults, above OWASP's floor. Only
    # the test suite lowers them (tests/conftest.py): it creates and logs in thousands of users.
    password_hash_time_cost: PositiveInt = 3
    password_hash_memory_kib: PositiveInt = 65536

    session_ttl_hours: PositiveInt = 12
    device_token_ttl_days: PositiveInt = 365
    enrolment_code_ttl_minutes: int = 30

    # Throttling (api/people/throttle.py; README "Security"), counted in fixed windows of `login_lock_minutes`.
    # Logins per (email, client address): failures after `login_slow_after` wait a little longer, and after
    # `login_lock_after` attempts that address may not try that email again until the window ends. Per client
    # address across emails (password spraying): slowed after `login_address_slow_after` failures, refused
    # after `login_address_lock_after`. The owner's right password from another address always gets in.
    login_slow_after: NonNegativeInt = 3
    login_lock_after: PositiveInt = 10
    login_lock_minutes: PositiveInt = 15
    login_address_slow_after: NonNegativeInt = 10
    login_address_lock_after: PositiveInt = 30
    # Enrolment codes tried per client address, and wrong ones overall (a guesser spread over many addresses).
    enrol_address_lock_after: PositiveInt = 10
    enrol_global_lock_after: PositiveInt = 200

    long_poll_max_seconds: NonNegativeFloat = 30.0  # GET /changes?wait= holds a request at most this long
    sync_max_items: PositiveInt = 500
    sync_max_bytes: PositiveInt = 2 * 1024 * 1024
    clock_skew_hours: NonNegativeInt = 24

    # Audio clips: where their bytes live ("fs": data_dir/media; "s3": an S3-compatible bucket), how big one
    # may be, when an unfinished upload counts as abandoned, how often the media worker retries erasures.
    media_backend: Literal["fs", "s3"] = "fs"
    media_max_bytes: PositiveInt = 50 * 1024 * 1024
    upload_abandoned_days: PositiveInt = 7
    media_worker_seconds: NonNegativeFloat = 60.0
    s3_bucket: str = ""
    s3_endpoint_url: str | None = None  # empty means AWS itself
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_prefix: str = ""

    # Webhooks: `hearken serve` runs a delivery worker thread unless this is false (then run `hearken worker`);
    # how often an idle worker looks for due deliveries; the connect/read timeout of each delivery.
    webhook_worker: bool = True
    webhook_worker_seconds: PositiveFloat = 2.0
    webhook_timeout_seconds: PositiveFloat = 10.0

    # SQLite writers queue in the process (api.db.WriteQueue); one that waited this long answers 503 + Retry-After
    # (phones give up after 30 s). busy_timeout is SQLite's own wait for a writer in another process.
    sqlite_write_wait_seconds: PositiveFloat = 10.0
    sqlite_busy_timeout_seconds: NonNegativeFloat = 10.0

    # Webhook targets must be https and resolve to public addresses; hosts listed here (comma-separated names
    # or IPs, e.g. "127.0.0.1,hooks.internal") may be private and plain http (tests, closed networks).
    webhook_allowed_hosts: str = ""

    # PostgreSQL keeps erased values in old row versions until a VACUUM FULL rewrites the table; the maintenance
    # worker runs one on the tables an erasure touched, at most this often (0: only `hearken compact-erased`).
    erasure_compact_minutes: NonNegativeFloat = 10.0
    # `hearken serve` purges what is past retention this often (api/maintenance.py; 0: only `hearken purge`).
    purge_hours: NonNegativeFloat = 24.0

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> "Settings":
        if self.environment == "production" and self.resolved_database_url().startswith("sqlite:///:memory:"):
            raise ValueError("an in-memory database loses everything on restart; set HEARKEN_DATABASE_URL")
        if self.media_backend == "s3" and not self.s3_bucket:
            raise ValueError("HEARKEN_MEDIA_BACKEND=s3 needs HEARKEN_S3_BUCKET")
        return self

    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Accept the libpq-style URL that PostgreSQL tools print; we talk to it through psycopg 3.
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.data_dir / 'hearken.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
