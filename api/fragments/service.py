"""Fragments: reading them within the caller's rights, editing with a version check, erasing for real."""

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.audit import service as audit
from api.clients.deps import ClientActor, Reader
from api.clients.models import Audience, ClientScope
from api.consent.models import Consent, Scope
from api.db import utcnow
from api.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed
from api.feed import service as feed
from api.feed.models import ChangeOp
from api.fragments import compaction
from api.fragments import query as query_language
from api.fragments.models import ERASED_HASH, Fragment, FragmentPublic, FragmentStatus, FragmentUpdate
from api.media import service as media
from api.memos import service as memos
from api.people.deps import Actor
from api.projects import service as projects
from api.projects.models import Project, SearchLanguage
from api.tags.models import FragmentTag


def public(session: Session, fragments: Sequence[Fragment]) -> list[FragmentPublic]:
    ids = [f.id for f in fragments]
    tags: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
    if ids:
        for fid, tid in session.exec(select(FragmentTag.fragment_id, FragmentTag.tag_id)
                                     .where(col(FragmentTag.fragment_id).in_(ids))):
            tags[fid].append(tid)
    clips = media.clips_for(session, ids)
    return [FragmentPublic.model_validate(f, update={"tag_ids": sorted(tags[f.id], key=str),
                                                     "audio": media.public(clips.get(f.id))}) for f in fragments]


def can_read(role: str | None, actor: Actor, fragment: Fragment) -> bool:
    return projects.is_manager(role) or (role is not None and fragment.researcher_id == actor.id)


CLIENT = "client"


def get_for_reader(session: Session, reader: Reader, fragment_id: uuid.UUID) -> tuple[Fragment, str]:
    """A fragment the caller may read, and their role: coordinators and admins all of a project's, a researcher
    their own, an API client those of its project that its audience may see."""
    fragment = session.get(Fragment, fragment_id)
    if fragment is not None:
        if isinstance(reader, ClientActor):
            reader.require(ClientScope.fragments_read)
            if fragment.project_id == reader.client.project_id and _audience_allows(session, reader, fragment):
                return fragment, CLIENT
        else:
            role = projects.role_in(session, reader, fragment.project_id)
            if can_read(role, reader, fragment):
                assert role is not None
                return fragment, role
    raise NotFound("No such fragment.")


# The consent scope each outside audience needs (the team's own tools need none).
AUDIENCE_SCOPE = {Audience.partner: Scope.share, Audience.public: Scope.publish}


def _audience_allows(session: Session, reader: ClientActor, fragment: Fragment) -> bool:
    scope = AUDIENCE_SCOPE.get(reader.client.audience)
    if scope is None:
        return True
    if fragment.sensitive:
        return False
    consent = session.get(Consent, fragment.consent_id)
    return consent is not None and consent.allows(scope)


def audience_consents(audience: Audience, *, once: bool = False) -> Any | None:
    """SQL on Consent: its scopes let this audience see its fragments (None for the team: every consent). With
    `once`: let it at some time, the scope being there or taken away since, so a tool of that audience may hold
    copies to delete (a tombstone must reach it)."""
    scope = AUDIENCE_SCOPE.get(audience)
    if scope is None:
        return None
    now = getattr(Consent, f"scope_{scope.value}").is_(True)
    return sa.or_(now, col(getattr(Consent, f"{scope.value}_removed_at")).is_not(None)) if once else now


def audience_condition(reader: ClientActor, fragment_id: Any, *, once: bool = False) -> Any:
    """SQL: this client's audience may see the fragment (its consent allows it, and it is not flagged sensitive),
    or with `once` may have seen it at some time (see audience_consents; a fragment flagged since was seen before).
    True for internal tools."""
    allowed_consents = audience_consents(reader.client.audience, once=once)
    if allowed_consents is None:
        return sa.true()
    allowed = select(Fragment.id).join(Consent, Consent.id == Fragment.consent_id).where(  # type: ignore[arg-type]
        Fragment.project_id == reader.client.project_id, allowed_consents,
        *(() if once else (col(Fragment.sensitive).is_(False),)))
    return fragment_id.in_(allowed)


def update(session: Session, actor: Actor, fragment: Fragment, role: str, data: FragmentUpdate,
           expected_version: int | None) -> Fragment:
    manager = projects.is_manager(role)
    # Read again, locked (PostgreSQL): an erasure in flight either finishes first and is seen here, or waits for
    # this edit and then erases what it wrote. Unlocked, the edit wrote its words into the tombstone. The consent
    # first, FOR SHARE (the capture rules read its scopes below), then the fragment: the order a withdrawal, a
    # narrowing, a purge and an upload take them, or an edit holding the fragment deadlocked with a purge holding
    # the consent.
    session.exec(select(Consent.id).where(Consent.id == fragment.consent_id).with_for_update(read=True)).first()
    session.refresh(fragment, with_for_update=True)
    if fragment.status != FragmentStatus.active:
        raise Conflict("This fragment was erased and cannot be edited.", code="fragment_erased")
    if not manager and fragment.reviewed_at is not None:
        raise Forbidden("A coordinator has reviewed this fragment; only coordinators can edit it now.")
    if expected_version is None:
        raise PreconditionFailed("Send the version you edited in If-Match.", code="version_required")
    if expected_version != fragment.version:
        raise Conflict("Someone changed this fragment since you read it.", code="version_conflict",
                       extra={"current": public(session, [fragment])[0].model_dump(mode="json")})
    changes = data.model_dump(exclude_unset=True)
    reviewed = changes.pop("reviewed", None)
    if reviewed is not None:
        if not manager:
            raise Forbidden("Only coordinators mark fragments reviewed.")
        fragment.reviewed_at = utcnow() if reviewed else None
        fragment.reviewed_by = actor.id if reviewed else None
    for key in ("kind", "text", "sensitive"):
        if key in changes and changes[key] is None:
            raise Invalid(f"{key} cannot be null; send a value (or leave it out).", code="null_not_allowed")
    if "kind" in changes or "answers" in changes or "prompt_id" in changes:
        from api.sync import rules  # the capture rules apply to edits as much as to new records

        rules.check_fragment_edit(session, fragment, changes)
    if changes.get("text") is not None and changes["text"] != fragment.text:
        memos.follow_edit(session, fragment, changes["text"], actor.id)  # quotes of it take the new words
    for key, value in changes.items():
        setattr(fragment, key, value)
    fragment.version += 1
    fragment.updated_at = utcnow()
    session.add(fragment)
    feed.record(session, project_id=fragment.project_id, entity="fragment", entity_id=fragment.id,
                owner_id=fragment.researcher_id)
    audit.record(session, actor_id=actor.id, action="fragment.update", entity="fragment", entity_id=fragment.id,
                 project_id=fragment.project_id,
                 detail={"fields": sorted(data.model_dump(exclude_unset=True)), "version": fragment.version})
    return fragment


def ids_under_consent(session: Session, consent_id: uuid.UUID, kind: str | None = None) -> list[uuid.UUID]:
    q = select(Fragment.id).where(Fragment.consent_id == consent_id, Fragment.status == FragmentStatus.active)
    if kind:
        q = q.where(Fragment.kind == kind)
    return list(session.exec(q))


def erase(session: Session, actor: Actor | None, ids: list[uuid.UUID], status: FragmentStatus) -> int:
    """Erase fragments' content for real: the columns are emptied, tags dropped, the audio clip's bytes queued
    for deletion from the store (gone once this commits), a tombstone stays."""
    if not ids:
        return 0
    now = utcnow()
    # One UPDATE for them all (the ORM's per-object flush cost ~1 ms a fragment: a 500-fragment withdrawal spent
    # most of its time there); `rows` keeps what the feed and the media store need. Locked now, in id order (on
    # PostgreSQL): rewriting quotes of their words locks the open boards next, and every path takes a fragment
    # before the boards showing it (workshops.service.reload_boards_showing).
    rows = session.exec(select(Fragment.id, Fragment.project_id, Fragment.researcher_id, Fragment.text)
                        .where(col(Fragment.id).in_(ids)).order_by(col(Fragment.id)).with_for_update()).all()
    memos.erase_quotes(session, rows, actor.id if actor else None)  # their words leave coordinators' memos too
    # `sensitive` stays: it is no content, and it keeps a partner or public tool from reading the tombstone's
    # metadata (time, place, conversation) of a fragment it was never allowed to see.
    session.execute(sa.update(Fragment).where(col(Fragment.id).in_(ids)).values(
        text=None, answers=None, kind=None, language=None, status=status, erased_at=now,
        updated_at=now, sync_hash=ERASED_HASH, version=Fragment.version + 1))
    for f in rows:
        feed.record(session, project_id=f.project_id, entity="fragment", entity_id=f.id,
                    op=ChangeOp.tombstone, owner_id=f.researcher_id)
    session.execute(sa.delete(FragmentTag).where(col(FragmentTag.fragment_id).in_(ids)))
    media.erase_clips(session, rows, reason=str(status))  # type: ignore[arg-type]  (id and project_id suffice)
    session.flush()
    # The FTS triggers told the search index to forget the words; compaction takes them out of its pages once
    # this commits (the index is merged off the request path: a merge costs the whole index, not the erasure).
    compaction.mark_erased(session)
    return len(rows)


def drop_audio(session: Session, ids: list[uuid.UUID]) -> int:
    """Erase these fragments' audio clips (their consent lost scope `audio`); the text stays. Answers how many."""
    rows = session.exec(select(Fragment).where(col(Fragment.id).in_(ids))).all() if ids else []
    dropped = set(media.erase_clips(session, rows, reason="audio_scope_removed"))
    for f in rows:
        if f.id in dropped:
            f.version += 1
            f.updated_at = utcnow()
            session.add(f)
            feed.record(session, project_id=f.project_id, entity="fragment", entity_id=f.id, owner_id=f.researcher_id)
    return len(dropped)


# --- listing -------------------------------------------------------------------------------------------


def search_words(q: str) -> query_language.Query:
    """The parsed search (see api/fragments/query.py); a 422 when it has nothing to find."""
    return query_language.parse(q)


# When a search or a tag has at most this many candidates, the query is driven from them (looked up by id, then
# sorted): the planners would otherwise walk the project in capture order checking every row, which is right when
# many fragments match (the page fills at once) and ruinous when few do (the whole project is read). SQLite keeps
# no statistics to tell the two apart, and PostgreSQL's guess for a rare word or a prefix can be off by 50 times,
# so we ask: one probe of the text index, cut off at this many.
FEW_CANDIDATES = 2000
_FTS_IDS = sa.table("fragments_fts_ids", sa.column("rowid"), sa.column("fragment_id"))
SEARCH_VECTOR = sa.literal_column("fragments.search_vector")


def _languages(session: Session, project_id: uuid.UUID | None) -> dict[str, list[uuid.UUID] | None]:
    """The search configurations in play, each with the projects it serves (None: all in scope): the project's
    own, or, for a search across projects, each language some project uses."""
    if project_id is not None:
        language = session.exec(select(Project.search_language).where(Project.id == project_id)).first()
        return {SearchLanguage(language or SearchLanguage.english).value: None}
    by_language: dict[str, list[uuid.UUID]] = {}
    for pid, language in session.exec(select(Project.id, Project.search_language)):
        by_language.setdefault(SearchLanguage(language).value, []).append(pid)
    if len(by_language) <= 1:
        return {next(iter(by_language), SearchLanguage.english.value): None}
    return dict(by_language)


def _text_match(session: Session, q: str, project_id: uuid.UUID | None) -> tuple[Any, bool]:
    """SQL for "the text matches this search", and whether few fragments match."""
    parsed = search_words(q)
    languages = _languages(session, project_id)
    if session.get_bind().dialect.name == "sqlite":
        # The two FTS5 tables hold disjoint rows (a fragment is in its project's language's), so a search across
        # projects is the union of both.
        found = sa.union_all(*[
            sa.text(f"SELECT rowid FROM {_FTS_TABLE[lang]} WHERE {_FTS_TABLE[lang]} MATCH :m_{lang}").bindparams(
                **{f"m_{lang}": query_language.fts5_match(parsed, english=lang == "english")})
            .columns(sa.column("rowid"))
            for lang in languages]).subquery()
        few = list(session.execute(sa.select(found.c.rowid).limit(FEW_CANDIDATES + 1)).scalars())
        if len(few) <= FEW_CANDIDATES:
            return col(Fragment.id).in_(select(_FTS_IDS.c.fragment_id).where(_FTS_IDS.c.rowid.in_(few))), True
        # Many: each row the walk meets is looked up in the text index by its rowid with the MATCH (FTS5 seeks
        # to that rowid in the words' lists), never the set of all matches built first (360 ms for a common word
        # at a million fragments, against 25 ms).
        return sa.or_(*[sa.text(
            f"EXISTS (SELECT 1 FROM fragments_fts_ids AS i JOIN {_FTS_TABLE[lang]} AS e ON e.rowid = i.rowid "
            f"WHERE i.fragment_id = fragments.id AND {_FTS_TABLE[lang]} MATCH :mm_{lang})").bindparams(
                **{f"mm_{lang}": query_language.fts5_match(parsed, english=lang == "english")})
            for lang in languages]), False
    # PostgreSQL: the GIN index on search_vector (fragments_fts_vector_idx); each language's query for its projects.
    each = [(SEARCH_VECTOR.op("@@")(query_language.pg_tsquery(parsed, lang)), pids) for lang, pids in languages.items()]
    matches = sa.or_(*[m if pids is None else sa.and_(col(Fragment.project_id).in_(pids), m) for m, pids in each])
    few = list(session.exec(select(Fragment.id).where(matches).limit(FEW_CANDIDATES + 1)))
    if len(few) <= FEW_CANDIDATES:
        return col(Fragment.id).in_(few), True
    return matches, False


_FTS_TABLE = {"english": "fragments_fts_english", "simple": "fragments_fts"}


def _few_tagged(session: Session, tag_id: uuid.UUID) -> bool:
    return session.get_bind().dialect.name == "sqlite" and session.exec(
        select(sa.func.count()).select_from(select(FragmentTag.tag_id).where(FragmentTag.tag_id == tag_id)
                                            .limit(FEW_CANDIDATES + 1).subquery())).one() <= FEW_CANDIDATES


def _few_erased(session: Session, project_id: uuid.UUID | None, status: Any) -> list[uuid.UUID] | None:
    """The ids of a project's erased fragments of this status when there are few (a withdrawn or expired filter),
    read from ix_fragments_project_status: in capture order the walk would read the whole project to find them
    (1.6 s at a million on SQLite without statistics). None when it does not apply or there are many."""
    if project_id is None or status is None or status == FragmentStatus.active:
        return None
    ids = list(session.exec(select(Fragment.id).where(Fragment.project_id == project_id, Fragment.status == status)
                            .limit(FEW_CANDIDATES + 1)))
    return ids if len(ids) <= FEW_CANDIDATES else None


def encode_cursor(f: Fragment) -> str:
    # A row of `columns` may carry the time already as ISO text and the id as the database holds it (the exports
    # read them so; see render.raw_id).
    at = f.captured_at if isinstance(f.captured_at, str) else f.captured_at.isoformat()
    fid = uuid.UUID(bytes=f.id) if isinstance(f.id, bytes) else f.id
    raw = json.dumps([at, str(fid)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, fid = json.loads(raw)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:  # every cursor given out has an offset; a naive time cannot be compared
            raise ValueError("naive time")
        return when.astimezone(UTC), uuid.UUID(fid)
    except (ValueError, TypeError, OverflowError, AttributeError) as exc:  # uuid.UUID(5): AttributeError
        raise Invalid("That cursor is not one this server gave out.", code="invalid_cursor") from exc


def _select(session: Session, actor: Reader, *, project_id: uuid.UUID | None, filters: dict[str, Any],
            q: str | None, client_scope: ClientScope, columns: tuple[Any, ...] = ()) -> Any:
    """SELECT of the fragments the caller may read that pass the filters, in no order yet."""
    stmt = select(*columns) if columns else select(Fragment)
    scope_project = actor.client.project_id if isinstance(actor, ClientActor) else project_id
    text_match, few = _text_match(session, q, scope_project) if q else (None, False)
    few = few or bool(filters.get("tag_id") and _few_tagged(session, filters["tag_id"]))
    erased_ids = _few_erased(session, scope_project, filters.get("status"))
    few = few or erased_ids is not None

    def in_project(pid: uuid.UUID) -> Any:
        # With few candidates, tell SQLite the project is no filter worth an index (see FEW_CANDIDATES).
        return sa.func.likelihood(Fragment.project_id == pid, sa.literal_column("0.99")) \
            if few and session.get_bind().dialect.name == "sqlite" else Fragment.project_id == pid

    if isinstance(actor, ClientActor):
        actor.require(client_scope)
        if project_id not in (None, actor.client.project_id):
            raise NotFound("No such project.")
        stmt = stmt.where(in_project(actor.client.project_id), audience_condition(actor, col(Fragment.id)))
    elif project_id is not None:
        _, role = projects.get_project(session, actor, project_id)
        stmt = stmt.where(in_project(project_id))
        if not projects.is_manager(role):
            stmt = stmt.where(Fragment.researcher_id == actor.id)
    elif not actor.is_admin:
        managed = [p.id for p, r in projects.list_projects(session, actor) if projects.is_manager(r)]
        member = [p.id for p, _ in projects.list_projects(session, actor)]
        stmt = stmt.where(col(Fragment.project_id).in_(member)).where(
            sa.or_(col(Fragment.project_id).in_(managed), Fragment.researcher_id == actor.id))
    for key in ("place_id", "prompt_id", "kind", "conversation_id", "consent_id", "status"):
        if filters.get(key) is not None:
            stmt = stmt.where(getattr(Fragment, key) == filters[key])
    if erased_ids is not None:
        stmt = stmt.where(col(Fragment.id).in_(erased_ids))
    if filters.get("audience") in (Audience.partner, Audience.public):
        scope = Consent.scope_share if filters["audience"] == Audience.partner else Consent.scope_publish
        stmt = stmt.where(col(Fragment.consent_id).in_(select(Consent.id).where(col(scope).is_(True))),
                          col(Fragment.sensitive).is_(False))
    if filters.get("sensitive") is not None:
        stmt = stmt.where(Fragment.sensitive == filters["sensitive"])
    if filters.get("captured_after"):
        stmt = stmt.where(Fragment.captured_at >= filters["captured_after"])
    if filters.get("captured_before"):
        stmt = stmt.where(Fragment.captured_at < filters["captured_before"])
    if filters.get("tag_id"):
        stmt = stmt.where(col(Fragment.id).in_(select(FragmentTag.fragment_id)
                                                .where(FragmentTag.tag_id == filters["tag_id"])))
    if text_match is not None:
        stmt = stmt.where(text_match)
    return stmt


def list_fragments(session: Session, actor: Reader, *, project_id: uuid.UUID | None, filters: dict[str, Any],
                   q: str | None, cursor: str | None, limit: int,
                   client_scope: ClientScope = ClientScope.fragments_read,
                   columns: tuple[Any, ...] = ()) -> tuple[list[Any], str | None]:
    """Fragments the caller may read, in capture order, a stable keyset page at a time. With `columns` (which
    include `id` and `captured_at`), plain rows of those instead of Fragment objects (for the exports)."""
    # Ordered by ix_fragments_project_captured (or the place / prompt index when that filter is given), read
    # from the cursor on; with few candidates, their ids sorted.
    stmt = _select(session, actor, project_id=project_id, filters=filters, q=q, client_scope=client_scope,
                   columns=columns)
    if cursor:
        at, fid = decode_cursor(cursor)
        # The first term is implied by the second, but without it SQLite walks the index from the project's start
        # to reach the cursor (an OR is no range to it), so page k cost k pages.
        stmt = stmt.where(Fragment.captured_at >= at,
                          sa.or_(Fragment.captured_at > at, sa.and_(Fragment.captured_at == at, Fragment.id > fid)))
    stmt = stmt.order_by(Fragment.captured_at, Fragment.id).limit(limit + 1)
    rows = list(session.connection().execute(stmt) if columns else session.exec(stmt))
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


TOTAL_CAP = 1000


def count_fragments(session: Session, actor: Reader, *, project_id: uuid.UUID | None, filters: dict[str, Any],
                    q: str | None, client_scope: ClientScope = ClientScope.fragments_read) -> tuple[int, bool]:
    """How many fragments list_fragments would give in all, exact up to TOTAL_CAP; beyond it the count stops
    (it would read every match) and says it is a lower bound."""
    stmt = _select(session, actor, project_id=project_id, filters=filters, q=q, client_scope=client_scope)
    capped = stmt.with_only_columns(Fragment.id).limit(TOTAL_CAP + 1).subquery()
    n = session.exec(select(sa.func.count()).select_from(capped)).one()
    return (TOTAL_CAP, True) if n > TOTAL_CAP else (n, False)
