"""A phone's question "which of my records were erased since N" reads a small partial index of tombstones by
owner, instead of walking every change from N (every phone asks once a minute).

Revision ID: 0b7e5a1d9c2f
Revises: 5a7c0e14b2d1
Create Date: 2026-11-29 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0b7e5a1d9c2f'
down_revision: str | None = '5a7c0e14b2d1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.create_index('ix_changes_owner_tombstones', ['owner_id', 'seq'], unique=False,
                              sqlite_where=sa.text("op = 'tombstone'"), postgresql_where=sa.text("op = 'tombstone'"))


def downgrade() -> None:
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.drop_index('ix_changes_owner_tombstones', sqlite_where=sa.text("op = 'tombstone'"),
                            postgresql_where=sa.text("op = 'tombstone'"))
