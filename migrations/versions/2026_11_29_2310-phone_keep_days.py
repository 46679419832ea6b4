"""A project's own limit on how long phones keep the words of records the server already holds (was a constant
of the phone, 14 days).

Revision ID: 3c1f7a92d4e6
Revises: 0b7e5a1d9c2f
Create Date: 2026-11-29 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3c1f7a92d4e6'
down_revision: str | None = '0b7e5a1d9c2f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_keep_days', sa.Integer(), server_default='14', nullable=False))


def downgrade() -> None:
    # Dropped in place, as the phone migration does: a batch rebuild of `projects` would break the fragments'
    # foreign keys and the search triggers that name the table.
    op.drop_column('projects', 'phone_keep_days')
