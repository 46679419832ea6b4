"""audio: clips attached to fragments, resumable uploads, the queue of bytes to erase

Revision ID: 7d5d86847de6
Revises: c271e5f8a35d
Create Date: 2026-11-23 14:54:09.794478
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '7d5d86847de6'
down_revision: str | None = 'c271e5f8a35d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('media_deletions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('fragment_id', sa.Uuid(), nullable=True),
    sa.Column('project_id', sa.Uuid(), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media_deletions'))
    )
    with op.batch_alter_table('media_deletions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_deletions_queued_at'), ['queued_at'], unique=False)

    op.create_table('audio_clips',
    sa.Column('fragment_id', sa.Uuid(), nullable=False),
    sa.Column('storage_key', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('uploaded_by', sa.Uuid(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['fragment_id'], ['fragments.id'], name=op.f('fk_audio_clips_fragment_id_fragments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'], name=op.f('fk_audio_clips_uploaded_by_users')),
    sa.PrimaryKeyConstraint('fragment_id', name=op.f('pk_audio_clips'))
    )
    op.create_table('audio_uploads',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('fragment_id', sa.Uuid(), nullable=False),
    sa.Column('uploaded_by', sa.Uuid(), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('filetype', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['fragment_id'], ['fragments.id'], name=op.f('fk_audio_uploads_fragment_id_fragments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'], name=op.f('fk_audio_uploads_uploaded_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audio_uploads'))
    )
    with op.batch_alter_table('audio_uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audio_uploads_fragment_id'), ['fragment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audio_uploads_updated_at'), ['updated_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('audio_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audio_uploads_updated_at'))
        batch_op.drop_index(batch_op.f('ix_audio_uploads_fragment_id'))

    op.drop_table('audio_uploads')
    op.drop_table('audio_clips')
    with op.batch_alter_table('media_deletions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_media_deletions_queued_at'))

    op.drop_table('media_deletions')
