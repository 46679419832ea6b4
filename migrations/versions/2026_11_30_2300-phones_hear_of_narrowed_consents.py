"""A phone hears of its consents' narrowing as it hears of erasures (GET /sync/erased): the small partial index of
changes by owner covers consent changes too, not only tombstones.

Revision ID: 7d3b9e2a4f60
Revises: c2f6a0d3e8b1
Create Date: 2026-11-30 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7d3b9e2a4f60'
down_revision: str | None = 'c2f6a0d3e8b1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOMBSTONES = "op = 'tombstone'"
FOR_PHONES = "(op = 'tombstone' OR entity = 'consent')"


def upgrade() -> None:
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.drop_index('ix_changes_owner_tombstones', sqlite_where=sa.text(TOMBSTONES),
                            postgresql_where=sa.text(TOMBSTONES))
        batch_op.create_index('ix_changes_owner_for_phones', ['owner_id', 'seq'], unique=False,
                              sqlite_where=sa.text(FOR_PHONES), postgresql_where=sa.text(FOR_PHONES))


def downgrade() -> None:
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.drop_index('ix_changes_owner_for_phones', sqlite_where=sa.text(FOR_PHONES),
                            postgresql_where=sa.text(FOR_PHONES))
        batch_op.create_index('ix_changes_owner_tombstones', ['owner_id', 'seq'], unique=False,
                              sqlite_where=sa.text(TOMBSTONES), postgresql_where=sa.text(TOMBSTONES))
