import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from api.db import new_id, ts_column, utcnow
from api.inputs import Text

# Given as schema_extra: SQLModel's own `regex=` is silently ignored under Pydantic 2.
COLOUR = r"^#[0-9a-fA-F]{6}$"


def free_name(name: str, taken: set[str], limit: int = 120) -> str:
    """`name`, or `name (2)`, `(3)`… when a tag of the project has it (a project's tag names are unique; `limit` is
    the column's length)."""
    candidate, n = name[:limit], 2
    while candidate in taken:
        suffix = f" ({n})"
        candidate, n = name[:limit - len(suffix)] + suffix, n + 1
    return candidate


class TagBase(SQLModel):
    name: Text = Field(min_length=1, max_length=120)
    description: Text = Field(default="", max_length=2000)
    colour: str | None = Field(default=None, max_length=7, schema_extra={"pattern": COLOUR})
    parent_id: uuid.UUID | None = None


class Tag(TagBase, table=True):
    """A code in a project's codebook."""

    __tablename__ = "tags"
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    parent_id: uuid.UUID | None = Field(default=None, foreign_key="tags.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (sa.UniqueConstraint("project_id", "name"),)


class TagCreate(TagBase):
    model_config = {"extra": "forbid"}


class TagUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    name: Text | None = Field(default=None, min_length=1, max_length=120)
    description: Text | None = Field(default=None, max_length=2000)
    colour: str | None = Field(default=None, max_length=7, schema_extra={"pattern": COLOUR})
    parent_id: uuid.UUID | None = None


class TagPublic(TagBase):
    # Not checked on the way out: colours stored before the pattern was enforced must still be shown.
    colour: str | None = None
    id: uuid.UUID
    project_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class FragmentTag(SQLModel, table=True):
    __tablename__ = "fragment_tags"
    fragment_id: uuid.UUID = Field(foreign_key="fragments.id", primary_key=True, ondelete="CASCADE")
    tag_id: uuid.UUID = Field(foreign_key="tags.id", primary_key=True, ondelete="CASCADE")
    tagged_by: uuid.UUID = Field(foreign_key="users.id")
    tagged_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    # A tag's fragments from the index alone (the tag filter, counts, merges): no table read per link.
    __table_args__ = (sa.Index("ix_fragment_tags_tag_fragment", "tag_id", "fragment_id"),)


class TagMerge(SQLModel):
    model_config = {"extra": "forbid"}
    into: uuid.UUID = Field(description="The tag that survives; it takes over the merged tag's fragments and children.")


MAX_BULK = 500


class TagFragmentsChange(SQLModel):
    model_config = {"extra": "forbid"}
    add: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_BULK)
    remove: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_BULK)


class TagFragmentsResult(SQLModel):
    added: int
    removed: int


class CodebookImportResult(SQLModel):
    created: int
    updated: int
    unchanged: int
    dry_run: bool


# --- lifecycle: counts, co-occurrence, deletion -------------------------------------------------------------

class TagCount(SQLModel):
    tag_id: uuid.UUID
    own: int = Field(description="Fragments tagged with this tag itself.")
    with_children: int = Field(description="Fragments tagged with it or any tag under it (each counted once).")


class CooccurrenceCell(SQLModel):
    a: uuid.UUID
    b: uuid.UUID
    fragments: int = Field(description="Fragments that carry both tags.")


class Cooccurrence(SQLModel):
    tags: list[TagCount] = Field(description="The most used tags, most used first: the table's rows and columns.")
    pairs: list[CooccurrenceCell] = Field(description="Every pair of those tags that shares at least one fragment.")


class TagDeletionPreview(SQLModel):
    fragments: int = Field(description="Fragments that lose this tag.")
    children: int = Field(description="Tags directly under it (moved up to its parent, or deleted with it).")
    descendants: int = Field(description="Every tag under it, at any depth.")
    fragments_with_descendants: int = Field(description="Fragments that lose a tag if its descendants go too.")


class TagDeletionResult(SQLModel):
    deleted: int = Field(description="Tags deleted (this one and, with children=delete, those under it).")
    fragments: int = Field(description="Fragments that lost a tag.")
    moved: int = Field(description="Children moved up to the deleted tag's parent.")
