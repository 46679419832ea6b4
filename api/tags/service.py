"""The codebook and who tagged what."""

import uuid

from sqlmodel import Session, select

from api.audit import service as audit
from api.db import utcnow
from api.errors import Conflict, Invalid, NotFound
from api.feed import service as feed
from api.fragments.models import Fragment, FragmentStatus
from api.people.deps import Actor
from api.projects import service as projects
from api.projects.models import Project
from api.tags.models import FragmentTag, Tag, TagCreate, TagUpdate
from api.webhooks import service as webhooks


def _check_parent(session: Session, project_id: uuid.UUID, tag_id: uuid.UUID | None,
                  parent_id: uuid.UUID | None) -> None:
    seen = {tag_id} if tag_id else set()
    while parent_id is not None:
        parent = session.get(Tag, parent_id)
        if parent is None or parent.project_id != project_id:
            raise Invalid("The parent tag is not one of this project's.", code="unknown_parent_tag")
        if parent.id in seen:
            raise Invalid("A tag cannot sit under itself.", code="tag_cycle")
        seen.add(parent.id)
        parent_id = parent.parent_id


def _unique_name(session: Session, project_id: uuid.UUID, name: str, tag_id: uuid.UUID | None = None) -> None:
    other = session.exec(select(Tag).where(Tag.project_id == project_id, Tag.name == name)).first()
    if other is not None and other.id != tag_id:
        raise Conflict(f"The codebook already has a tag called {name!r}.", code="duplicate_name")


def create(session: Session, actor: Actor, project: Project, data: TagCreate) -> Tag:
    _check_parent(session, project.id, None, data.parent_id)
    _unique_name(session, project.id, data.name)
    tag = Tag(project_id=project.id, **data.model_dump())
    session.add(tag)
    session.flush()
    feed.record(session, project_id=project.id, entity="tag", entity_id=tag.id)
    return tag


def get_for_coordinator(session: Session, actor: Actor, tag_id: uuid.UUID) -> Tag:
    tag = session.get(Tag, tag_id)
    if tag is None or projects.role_in(session, actor, tag.project_id) is None:
        raise NotFound("No such tag.")
    projects.require_coordinator(session, actor, tag.project_id)
    return tag


def update(session: Session, actor: Actor, tag: Tag, data: TagUpdate) -> Tag:
    changes = data.model_dump(exclude_unset=True)
    if "parent_id" in changes:
        _check_parent(session, tag.project_id, tag.id, changes["parent_id"])
    if changes.get("name"):
        _unique_name(session, tag.project_id, changes["name"], tag.id)
    for key, value in changes.items():
        if value is None and key not in ("parent_id", "colour"):
            continue
        setattr(tag, key, value)
    tag.updated_at = utcnow()
    session.add(tag)
    feed.record(session, project_id=tag.project_id, entity="tag", entity_id=tag.id)
    return tag


def list_for_project(session: Session, project: Project) -> list[Tag]:
    return list(session.exec(select(Tag).where(Tag.project_id == project.id).order_by(Tag.name)))


def tag_fragment(session: Session, actor: Actor, fragment: Fragment, tag: Tag) -> bool:
    """Apply a tag; answers False when the fragment already had it."""
    if tag.project_id != fragment.project_id:
        raise NotFound("No such tag in this fragment's project.")
    if fragment.status != FragmentStatus.active:
        raise Conflict("This fragment was erased.", code="fragment_erased")
    if session.get(FragmentTag, (fragment.id, tag.id)) is not None:
        return False
    session.add(FragmentTag(fragment_id=fragment.id, tag_id=tag.id, tagged_by=actor.id))
    webhooks.tags_changed(session, fragment.id)
    feed.record(session, project_id=fragment.project_id, entity="fragment", entity_id=fragment.id,
                owner_id=fragment.researcher_id)
    audit.record(session, actor_id=actor.id, action="fragment.tag", entity="fragment", entity_id=fragment.id,
                 project_id=fragment.project_id, detail={"tag_id": str(tag.id)})
    return True


def untag_fragment(session: Session, actor: Actor, fragment: Fragment, tag_id: uuid.UUID) -> None:
    link = session.get(FragmentTag, (fragment.id, tag_id))
    if link is None:
        raise NotFound("This fragment does not have that tag.")
    session.delete(link)
    webhooks.tags_changed(session, fragment.id)
    feed.record(session, project_id=fragment.project_id, entity="fragment", entity_id=fragment.id,
                owner_id=fragment.researcher_id)
    audit.record(session, actor_id=actor.id, action="fragment.untag", entity="fragment", entity_id=fragment.id,
                 project_id=fragment.project_id, detail={"tag_id": str(tag_id)})


