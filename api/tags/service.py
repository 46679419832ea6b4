"""The codebook and who tagged what."""

import uuid

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.audit import service as audit
from api.clients.deps import ClientActor, Reader
from api.clients.models import ClientScope
from api.db import utcnow
from api.errors import Conflict, Invalid, NotFound
from api.feed import service as feed
from api.feed.models import ChangeOp
from api.fragments.models import Fragment, FragmentStatus
from api.people.deps import Actor
from api.projects import service as projects
from api.projects.models import Project
from api.tags.models import (
    Cooccurrence,
    CooccurrenceCell,
    FragmentTag,
    Tag,
    TagCount,
    TagCreate,
    TagDeletionPreview,
    TagDeletionResult,
    TagFragmentsChange,
    TagFragmentsResult,
    TagUpdate,
)
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
        raise Conflict(f"The codebook already has a tag called {name!r}.", code="tag_exists")


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
    # FOR SHARE (PostgreSQL): an erasure in flight finishes first and is seen here, or waits and drops this tag.
    session.refresh(fragment, with_for_update={"read": True})
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


def project_for_reader(session: Session, reader: Reader, project_id: uuid.UUID) -> Project:
    """The project whose codebook this caller may read: any member, or an API client of it with `tags:read`."""
    if isinstance(reader, ClientActor):
        reader.require(ClientScope.tags_read)
        project = session.get(Project, project_id)
        if project is None or reader.client.project_id != project_id:
            raise NotFound("No such project.")
        return project
    project, _ = projects.get_project(session, reader, project_id)
    return project


def _fragment_changed(session: Session, fragment_id: uuid.UUID, project_id: uuid.UUID,
                      owner_id: uuid.UUID) -> None:
    """A fragment's tags changed: its feed upsert goes out again (and to webhooks as `tag.changed`)."""
    webhooks.tags_changed(session, fragment_id)
    feed.record(session, project_id=project_id, entity="fragment", entity_id=fragment_id, owner_id=owner_id)


def change_fragments(session: Session, actor: Actor, tag: Tag, data: TagFragmentsChange) -> TagFragmentsResult:
    """Tag and untag many fragments at once, all or nothing."""
    add, remove = list(dict.fromkeys(data.add)), list(dict.fromkeys(data.remove))
    if both := set(add) & set(remove):
        raise Invalid("A fragment cannot be both added and removed.", code="add_and_remove",
                      extra={"ids": sorted(str(i) for i in both)})
    wanted = add + remove
    if not wanted:
        return TagFragmentsResult(added=0, removed=0)
    owners = dict(session.execute(  # FOR SHARE: as in tag_fragment, against an erasure in flight
        select(Fragment.id, Fragment.researcher_id)
        .where(col(Fragment.id).in_(wanted), Fragment.project_id == tag.project_id,
               Fragment.status == FragmentStatus.active).with_for_update(read=True)).all())
    if bad := [i for i in wanted if i not in owners]:
        # One answer for unknown, erased and other projects' fragments: which is which is not the caller's business.
        raise Invalid(f"{len(bad)} of these fragments are unknown, erased or not in this tag's project; "
                      "nothing was changed.", code="bad_fragments", extra={"ids": [str(i) for i in bad]})
    has = set(session.exec(select(FragmentTag.fragment_id)
                           .where(FragmentTag.tag_id == tag.id, col(FragmentTag.fragment_id).in_(wanted))))
    to_add = [i for i in add if i not in has]
    to_remove = [i for i in remove if i in has]
    now = utcnow()
    if to_add:
        session.execute(sa.insert(FragmentTag.__table__), [
            {"fragment_id": i, "tag_id": tag.id, "tagged_by": actor.id, "tagged_at": now} for i in to_add])
    if to_remove:
        session.execute(sa.delete(FragmentTag).where(FragmentTag.tag_id == tag.id,
                                                     col(FragmentTag.fragment_id).in_(to_remove)))
    for i in to_add + to_remove:
        _fragment_changed(session, i, tag.project_id, owners[i])
    if to_add or to_remove:
        # One entry for the one act (an entry per fragment would cost a round trip each for its serial id).
        audit.record(session, actor_id=actor.id, action="tag.fragments", entity="tag", entity_id=tag.id,
                     project_id=tag.project_id,
                     detail={"added": [str(i) for i in to_add], "removed": [str(i) for i in to_remove]})
    session.flush()
    return TagFragmentsResult(added=len(to_add), removed=len(to_remove))


def merge(session: Session, actor: Actor, source: Tag, into: uuid.UUID) -> Tag:
    """Fold `source` into the tag `into`: its fragments and children go to the target, and it is deleted. A target
    that sits under the source first takes the source's place, so no child ends up under its own descendant."""
    target = session.get(Tag, into)
    if target is None or target.project_id != source.project_id:
        raise Invalid("The tag to merge into is not one of this project's.", code="unknown_tag")
    if target.id == source.id:
        raise Invalid("A tag cannot be merged into itself.", code="tag_cycle")
    now = utcnow()
    ancestor_id = target.parent_id
    while ancestor_id is not None:
        if ancestor_id == source.id:
            target.parent_id = source.parent_id
            break
        ancestor_id = session.get(Tag, ancestor_id).parent_id  # type: ignore[union-attr]
    children = list(session.exec(select(Tag).where(Tag.parent_id == source.id, Tag.id != target.id)))
    for child in children:
        child.parent_id, child.updated_at = target.id, now
        session.add(child)
        feed.record(session, project_id=child.project_id, entity="tag", entity_id=child.id)
    target.updated_at = now
    session.add(target)
    session.flush()

    tagged = session.execute(select(Fragment.id, Fragment.researcher_id)
                             .join(FragmentTag, col(FragmentTag.fragment_id) == Fragment.id)
                             .where(FragmentTag.tag_id == source.id)).all()
    tag_type = FragmentTag.__table__.c.tag_id.type
    already = select(FragmentTag.fragment_id).where(FragmentTag.tag_id == target.id)
    session.execute(sa.insert(FragmentTag.__table__).from_select(
        ["fragment_id", "tag_id", "tagged_by", "tagged_at"],
        # Who tagged a fragment, and when, stays as it was: the merge renames the code, not the coding.
        select(FragmentTag.fragment_id, sa.literal(target.id, tag_type), FragmentTag.tagged_by, FragmentTag.tagged_at)
        .where(FragmentTag.tag_id == source.id, col(FragmentTag.fragment_id).not_in(already))))
    session.execute(sa.delete(FragmentTag).where(FragmentTag.tag_id == source.id))
    for fragment_id, owner_id in tagged:
        _fragment_changed(session, fragment_id, source.project_id, owner_id)

    feed.record(session, project_id=source.project_id, entity="tag", entity_id=target.id)
    feed.record(session, project_id=source.project_id, entity="tag", entity_id=source.id, op=ChangeOp.tombstone)
    audit.record(session, actor_id=actor.id, action="tag.merge", entity="tag", entity_id=source.id,
                 project_id=source.project_id,
                 detail={"into": str(target.id), "fragments": len(tagged),
                         "children": len(children)})
    session.delete(source)
    session.flush()
    session.refresh(target)
    return target


# --- lifecycle: counts, co-occurrence, deletion -------------------------------------------------------------

def _children_map(tags: list[Tag]) -> dict[uuid.UUID | None, list[Tag]]:
    kids: dict[uuid.UUID | None, list[Tag]] = {}
    for t in tags:
        kids.setdefault(t.parent_id, []).append(t)
    return kids


def _descendants(kids: dict[uuid.UUID | None, list[Tag]], tag_id: uuid.UUID) -> list[uuid.UUID]:
    out: list[uuid.UUID] = []
    stack = [tag_id]
    while stack:
        for child in kids.get(stack.pop(), []):
            if child.id not in out:
                out.append(child.id)
                stack.append(child.id)
    return out


def _distinct_fragments(session: Session, tag_ids: list[uuid.UUID]) -> int:
    if not tag_ids:
        return 0
    # Reads ix_fragment_tags_tag_fragment; erasure drops an erased fragment's links, so every link is a live fragment.
    return session.exec(select(sa.func.count(sa.distinct(FragmentTag.fragment_id)))
                        .where(col(FragmentTag.tag_id).in_(tag_ids))).one()


def counts(session: Session, project: Project) -> list[TagCount]:
    """Fragments per tag, its own and with every tag under it. A parent's total is one count over its subtree,
    so a fragment tagged with two of its children counts once."""
    tags = list_for_project(session, project)
    own = dict(session.execute(select(FragmentTag.tag_id, sa.func.count())
                               .join(Tag, col(Tag.id) == FragmentTag.tag_id)
                               .where(Tag.project_id == project.id).group_by(FragmentTag.tag_id)).all())
    kids = _children_map(tags)
    out = []
    for t in tags:
        below = _descendants(kids, t.id)
        total = _distinct_fragments(session, [t.id, *below]) if below else own.get(t.id, 0)
        out.append(TagCount(tag_id=t.id, own=own.get(t.id, 0), with_children=total))
    return out


def cooccurrence(session: Session, project: Project, top: int) -> Cooccurrence:
    """How often each pair of the `top` most used tags shares a fragment."""
    ranked = [c for c in counts(session, project) if c.own > 0]
    ranked.sort(key=lambda c: (-c.own, str(c.tag_id)))
    ranked = ranked[:top]
    ids = [c.tag_id for c in ranked]
    pairs: list[CooccurrenceCell] = []
    if len(ids) > 1:
        a, b = sa.orm.aliased(FragmentTag), sa.orm.aliased(FragmentTag)
        rows = session.execute(select(a.tag_id, b.tag_id, sa.func.count())
                               .join(b, sa.and_(b.fragment_id == a.fragment_id, b.tag_id > a.tag_id))
                               .where(a.tag_id.in_(ids), b.tag_id.in_(ids))
                               .group_by(a.tag_id, b.tag_id)).all()
        pairs = [CooccurrenceCell(a=x, b=y, fragments=n) for x, y, n in rows]
    return Cooccurrence(tags=ranked, pairs=pairs)


def deletion_preview(session: Session, tag: Tag) -> TagDeletionPreview:
    kids = _children_map(list(session.exec(select(Tag).where(Tag.project_id == tag.project_id))))
    below = _descendants(kids, tag.id)
    return TagDeletionPreview(fragments=_distinct_fragments(session, [tag.id]), children=len(kids.get(tag.id, [])),
                              descendants=len(below),
                              fragments_with_descendants=_distinct_fragments(session, [tag.id, *below]))


def delete(session: Session, actor: Actor, tag: Tag, children: str = "lift", if_unused: bool = False,
           ) -> TagDeletionResult:
    """Delete a tag: its fragments lose it (each goes out on the feed and to webhooks as `tag.changed`), and its
    children move up to its parent (`lift`) or are deleted with it (`delete`). `if_unused` refuses when any
    fragment carries the tag or it has children: the tagging page's undo of a tag it just made."""
    kids = _children_map(list(session.exec(select(Tag).where(Tag.project_id == tag.project_id))))
    direct = kids.get(tag.id, [])
    doomed = [tag.id, *(_descendants(kids, tag.id) if children == "delete" else [])]
    tagged = session.execute(select(Fragment.id, Fragment.researcher_id)
                             .join(FragmentTag, col(FragmentTag.fragment_id) == Fragment.id)
                             .where(col(FragmentTag.tag_id).in_(doomed)).distinct()).all()
    if if_unused and (tagged or direct):
        raise Conflict("This tag is in use, so it was kept.", code="tag_in_use")
    now = utcnow()
    moved = 0
    if children != "delete":
        for child in direct:
            child.parent_id, child.updated_at = tag.parent_id, now
            session.add(child)
            feed.record(session, project_id=child.project_id, entity="tag", entity_id=child.id)
            moved += 1
    session.flush()
    session.execute(sa.delete(FragmentTag).where(col(FragmentTag.tag_id).in_(doomed)))
    for fragment_id, owner_id in tagged:
        _fragment_changed(session, fragment_id, tag.project_id, owner_id)
    deleted = []
    # Deepest first, so no row ever points at a parent already gone.
    for tag_id in reversed(doomed):
        doomed_tag = session.get(Tag, tag_id)
        if doomed_tag is None:
            continue
        deleted.append(str(tag_id))
        feed.record(session, project_id=tag.project_id, entity="tag", entity_id=tag_id, op=ChangeOp.tombstone)
        session.delete(doomed_tag)
        session.flush()
    audit.record(session, actor_id=actor.id, action="tag.delete", entity="tag", entity_id=tag.id,
                 project_id=tag.project_id,
                 # Ids, never names: a tag may be named with a participant's words (a workshop theme named
                 # after a card), and the audit log keeps no content.
                 detail={"children": children, "deleted": sorted(deleted),
                         "fragments": len(tagged), "moved": moved})
    return TagDeletionResult(deleted=len(deleted), fragments=len(tagged), moved=moved)
