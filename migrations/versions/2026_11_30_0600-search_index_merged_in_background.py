"""SQLite: the search indexes stop merging their segments inside the writing transaction (FTS5 'automerge' 0); the
background loop merges them instead (api/fragments/compaction.py, merge_new_segments). At a million fragments FTS5's
automerge had every sync carry on the index's large merges, a little each time: a batch of 490 cost 0.36 ms a
record on average and up to 0.47, against 0.19 with the merging done apart. (FTS5 still merges at once if a
level reaches 'crisismerge', 16 segments, so an index never goes unmerged for long whatever the loop does.)

Revision ID: 8a1f0c2e9b37
Revises: 7e9a3c51d0b4
Create Date: 2026-11-30 06:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '8a1f0c2e9b37'
down_revision: str | None = '7e9a3c51d0b4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_INDEXES = ("fragments_fts", "fragments_fts_english")


def _automerge(value: int) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL's GIN index keeps its own pending list (fastupdate)
    for table in SEARCH_INDEXES:
        op.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('automerge', {value})")


def upgrade() -> None:
    _automerge(0)


def downgrade() -> None:
    _automerge(4)  # FTS5's default
