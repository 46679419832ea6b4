"""enrolment_codes.failed_attempts was never written: wrong codes are counted per client address and overall by
the login throttle (api/people/throttle.py), since a wrong code names no row to count on. The column goes rather
than suggest a per-code limit that does not exist.

Revision ID: 9e1d0c0de5a7
Revises: 3c1f7a92d4e6
Create Date: 2026-11-29 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9e1d0c0de5a7'
down_revision: str | None = '3c1f7a92d4e6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Natively (SQLite ≥ 3.35 drops a plain column in place): a batch rebuild of a referenced table fails.
    op.drop_column('enrolment_codes', 'failed_attempts')


def downgrade() -> None:
    op.add_column('enrolment_codes', sa.Column('failed_attempts', sa.Integer(), nullable=False, server_default='0'))
