"""Consents remember when `share` or `publish` was taken away (share_removed_at, publish_removed_at), so a partner's
or the public's tool is told to delete what it holds of that consent's fragments: at the narrowing (a consent
tombstone in its feed, `consent.withdrawn` to its webhooks) and at a later withdrawal, which it was no longer told
of because the consent no longer had its scope. Filled from the audit log's earlier narrowings.

Revision ID: c2f6a0d3e8b1
Revises: 8a1f0c2e9b37
Create Date: 2026-11-30 08:00:00
"""

import json
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c2f6a0d3e8b1'
down_revision: str | None = '8a1f0c2e9b37'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPES = ("share", "publish")


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode: nullable columns need no copy of the table.
    for scope in SCOPES:
        op.add_column('consents', sa.Column(f'{scope}_removed_at', sa.DateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    audit = sa.table('audit_log', sa.column('at'), sa.column('action'), sa.column('entity_id'), sa.column('detail'))
    narrowed = bind.execute(sa.select(audit.c.at, audit.c.entity_id, audit.c.detail)
                            .where(audit.c.action == 'consent.narrow').order_by(audit.c.at)).all()
    consents = sa.table('consents', sa.column('id', sa.Uuid()), *(sa.column(f'{s}_removed_at') for s in SCOPES))
    for at, entity_id, detail in narrowed:
        removed = (json.loads(detail) if isinstance(detail, str) else detail or {}).get('removed_scopes', [])
        for scope in SCOPES:
            if scope in removed:
                column = consents.c[f'{scope}_removed_at']
                bind.execute(consents.update().where(consents.c.id == uuid.UUID(entity_id),
                                                     column.is_(None)).values({column: at}))


def downgrade() -> None:
    for scope in SCOPES:
        op.drop_column('consents', f'{scope}_removed_at')
