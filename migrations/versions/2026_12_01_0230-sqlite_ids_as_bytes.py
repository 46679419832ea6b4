"""SQLite keeps every id as its 16 bytes, every time as microseconds since 1970 (UTC) and every synced record's
content hash as its 32 bytes, not as text.

Ids (32 hex digits) and times ('YYYY-MM-DD HH:MM:SS.ffffff') were most of what each index of fragments held: a
fragment cost 2.1 KB at a million, 1.33 KB in the new forms. The declared column types stay (CHAR(32), DATETIME,
VARCHAR(64): SQLite keeps a value as it is given), so only the values change; api/db.py reads and writes the new
forms. The overview's triggers compute a capture's week from the new form. PostgreSQL is unchanged (uuid,
timestamptz).

The file keeps its old size until `VACUUM` (see the README's "Running it for real").

Revision ID: b10b5a11d5e7
Revises: 7d3b9e2a4f60
Create Date: 2026-12-01 02:30:00
"""

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import op

revision: str = 'b10b5a11d5e7'
down_revision: str | None = '7d3b9e2a4f60'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def _id_bytes(value: Any) -> Any:
    return uuid.UUID(hex=value).bytes if isinstance(value, str) else value


def _id_text(value: Any) -> Any:
    return uuid.UUID(bytes=value).hex if isinstance(value, bytes) else value


def _hash_bytes(value: Any) -> Any:
    return bytes.fromhex(value) if isinstance(value, str) and len(value) == 64 else value  # not 'erased'


def _hash_text(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value


def _micros(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return (datetime.fromisoformat(value).replace(tzinfo=UTC) - EPOCH) // MICROSECOND


def _time_text(value: Any) -> Any:
    if not isinstance(value, int):
        return value
    return (EPOCH + value * MICROSECOND).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


# --- the overview's row triggers (as in 5e4rch0f0rm5), with the week computed from either form ----------------

def _week(column: str, stored_as_micros: bool) -> str:
    if stored_as_micros:
        return f"date({column} / 1000000, 'unixepoch', 'weekday 0', '-6 days')"
    return f"date({column}, 'weekday 0', '-6 days')"


UPSERT = "ON CONFLICT (project_id, dimension, key, week) DO UPDATE SET n = n + excluded.n"


def _contributions(row: str, sign: str, micros: bool) -> str:
    return f"""INSERT INTO overview_counts (project_id, dimension, key, week, n)
    SELECT {row}.project_id, d.dimension, d.key, {_week(f"{row}.captured_at", micros)}, {sign} FROM (
      SELECT 'all' AS dimension, {row}.project_id AS key
      UNION ALL SELECT 'place', {row}.place_id WHERE {row}.place_id IS NOT NULL
      UNION ALL SELECT 'prompt', {row}.prompt_id WHERE {row}.prompt_id IS NOT NULL
      UNION ALL SELECT 'sensitive', {row}.project_id WHERE {row}.sensitive
      UNION ALL SELECT 'unreviewed', {row}.project_id WHERE {row}.reviewed_at IS NULL
      UNION ALL SELECT 'researcher', {row}.researcher_id
      UNION ALL SELECT 'tag', tag_id FROM fragment_tags WHERE fragment_id = {row}.id
    ) AS d WHERE {row}.status = 'active'
    {UPSERT};"""


def _tag_contribution(row: str, sign: str, micros: bool) -> str:
    return f"""INSERT INTO overview_counts (project_id, dimension, key, week, n)
    SELECT f.project_id, 'tag', {row}.tag_id, {_week("f.captured_at", micros)}, {sign} FROM fragments AS f
    WHERE f.id = {row}.fragment_id AND f.status = 'active'
    {UPSERT};"""


TRACKED = "status, place_id, prompt_id, captured_at, sensitive, reviewed_at"
TRIGGERS = ("overview_counts_fi", "overview_counts_fu", "overview_counts_fd",
            "overview_counts_ti", "overview_counts_tu", "overview_counts_td")


def _triggers(micros: bool) -> list[str]:
    return [
        f"CREATE TRIGGER overview_counts_fi AFTER INSERT ON fragments BEGIN {_contributions('new', '1', micros)} END",
        f"CREATE TRIGGER overview_counts_fu AFTER UPDATE OF {TRACKED} ON fragments BEGIN "
        f"{_contributions('old', '-1', micros)} {_contributions('new', '1', micros)} END",
        f"CREATE TRIGGER overview_counts_fd AFTER DELETE ON fragments BEGIN {_contributions('old', '-1', micros)} END",
        f"CREATE TRIGGER overview_counts_ti AFTER INSERT ON fragment_tags BEGIN "
        f"{_tag_contribution('new', '1', micros)} END",
        f"CREATE TRIGGER overview_counts_tu AFTER UPDATE ON fragment_tags BEGIN "
        f"{_tag_contribution('old', '-1', micros)} {_tag_contribution('new', '1', micros)} END",
        f"CREATE TRIGGER overview_counts_td AFTER DELETE ON fragment_tags BEGIN "
        f"{_tag_contribution('old', '-1', micros)} END",
    ]


def _convert(ids: Callable[[Any], Any], times: Callable[[Any], Any], hashes: Callable[[Any], Any],
             micros: bool) -> None:
    """Every CHAR(32) column's values through `ids`, every DATETIME column's through `times` and every sync_hash
    through `hashes`, one UPDATE a table, with the overview's triggers set aside meanwhile (they are made again
    for the new form)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    raw = bind.connection.driver_connection
    raw.create_function("hearken_id", 1, ids, deterministic=True)
    raw.create_function("hearken_time", 1, times, deterministic=True)
    raw.create_function("hearken_hash", 1, hashes, deterministic=True)
    # Parents and children change in turn: the foreign keys are checked at commit, when all agree again.
    op.execute("PRAGMA defer_foreign_keys = ON")
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    tables = [r[0] for r in bind.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' AND name NOT LIKE 'fragments_fts_%' OR name = 'fragments_fts_ids'")]
    for table in tables:
        changes = [f'"{name}" = hearken_id("{name}")' if kind.upper() == "CHAR(32)" else
                   f'"{name}" = hearken_time("{name}")' if kind.upper() == "DATETIME" else
                   f'"{name}" = hearken_hash("{name}")' if name == "sync_hash" else None
                   for _, name, kind, *_ in bind.exec_driver_sql(f'PRAGMA table_info("{table}")')]
        if any(changes):
            op.execute(f'UPDATE "{table}" SET {", ".join(c for c in changes if c)}')
    for trigger in _triggers(micros):
        op.execute(trigger)


def upgrade() -> None:
    _convert(_id_bytes, _micros, _hash_bytes, micros=True)


def downgrade() -> None:
    _convert(_id_text, _time_text, _hash_text, micros=False)
