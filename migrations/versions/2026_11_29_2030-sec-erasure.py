"""FTS5 secure-delete: an erasure takes its words out of the search index in place

Revision ID: 5ec0e7a5e001
Revises: d6f56cde7cab
Create Date: 2026-11-29 20:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '5ec0e7a5e001'
down_revision: str | None = 'd6f56cde7cab'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite_version(bind) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    return tuple(int(p) for p in bind.exec_driver_sql("SELECT sqlite_version()").scalar().split("."))


def upgrade() -> None:
    bind = op.get_bind()
    # SQLite >= 3.42 (the sqlean.py wheel): with secure-delete, FTS5's 'delete' removes the entries from the
    # index's segments instead of marking them, so erased words leave the index at once and the erasure no
    # longer merges the whole index. An older SQLite keeps the old behaviour (api/fragments/compaction.py).
    # Once set, FTS5 before 3.42 refuses to write this index: open the database with the same SQLite.
    if bind.dialect.name == "sqlite" and _sqlite_version(bind) >= (3, 42):
        op.execute("INSERT INTO fragments_fts (fragments_fts, rank) VALUES ('secure-delete', 1)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and _sqlite_version(bind) >= (3, 42):
        op.execute("INSERT INTO fragments_fts (fragments_fts, rank) VALUES ('secure-delete', 0)")
