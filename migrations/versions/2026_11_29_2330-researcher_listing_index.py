"""A researcher's fragments in a project, in capture order: one index range for their listing; a tag's
fragments from an index alone.

ix_fragments_researcher_captured (researcher_id, captured_at) becomes (researcher_id, project_id, captured_at, id):
a researcher's own `GET /fragments?project_id=` reads one range of it in keyset order, where before, without
planner statistics, PostgreSQL paired two bitmap scans and sorted the whole project (1.9 s at a million
fragments). The overview's latest capture per researcher and the foreign key read it as before.
ix_fragment_tags_tag_id (tag_id) becomes (tag_id, fragment_id): the tag filter reads a tag's fragment ids without
visiting the table for each link.

Revision ID: 7e5ea4c0b1d2
Revises: 0b7e5a1d9c2f
Create Date: 2026-11-29 23:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '7e5ea4c0b1d2'
down_revision: str | None = '0b7e5a1d9c2f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_fragments_researcher_project_captured', 'fragments',
                    ['researcher_id', 'project_id', 'captured_at', 'id'], unique=False)
    op.drop_index('ix_fragments_researcher_captured', table_name='fragments')
    op.create_index('ix_fragment_tags_tag_fragment', 'fragment_tags', ['tag_id', 'fragment_id'], unique=False)
    op.drop_index('ix_fragment_tags_tag_id', table_name='fragment_tags')


def downgrade() -> None:
    op.create_index('ix_fragment_tags_tag_id', 'fragment_tags', ['tag_id'], unique=False)
    op.drop_index('ix_fragment_tags_tag_fragment', table_name='fragment_tags')
    op.create_index('ix_fragments_researcher_captured', 'fragments', ['researcher_id', 'captured_at'], unique=False)
    op.drop_index('ix_fragments_researcher_project_captured', table_name='fragments')
