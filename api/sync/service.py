"""POST /sync: an ordered batch of records made on a phone, each answered on its own.

The batch is checked in memory against what the database and the batch itself already hold, then
written with one multi-row insert per table. Ids are chosen by the phone, so a replay finds its
record already there: `duplicate` when the content is the same, `conflict` when it is not. Nothing
the phone sends twice is ever stored twice, whatever the network did.
"""

import contextlib
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.audit.models import AuditEntry
from api.config import get_settings
from api.consent.models import Consent, ConsentForm, Participant, Scope, participant_id
from api.conversations.models import Conversation
from api.db import utcnow
from api.errors import TooLarge
from api.feed import service as feed
from api.fragments.models import ERASED_HASH, Fragment, FragmentStatus
from api.people.deps import Actor
from api.people.models import AuthToken
from api.projects.models import Membership, Place, Project, Prompt, Role, TrainingRecord
from api.sync import rules
from api.sync.models import ConsentData, ConversationData, FragmentData, SyncItem, SyncResult
from api.sync.rules import Rejected

PARSERS: dict[str, type[BaseModel]] = {"conversation": ConversationData, "consent": ConsentData,
                                       "fragment": FragmentData}
TABLES: dict[str, Any] = {"conversation": Conversation, "consent": Consent, "fragment": Fragment}
OWNER_COLUMN = {"conversation": "researcher_id", "consent": "recorded_by", "fragment": "researcher_id"}
# Ids no phone makes by chance (crypto.randomUUID never gives them): answered like an id held by another.
RESERVED_IDS = frozenset({uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)})


# Every query of a sync is built once, here: building a statement and its cache key costs more than SQLite takes
# to run it, and a phone that syncs as it captures pays that on every request. `ids` and the like are bound per
# call (an expanding IN list).
_IDS = sa.bindparam("ids", expanding=True)
_HELD = sa.union_all(*(
    sa.select(sa.literal_column(f"'{rtype}'"), t.c.id, t.c.sync_hash, t.c[OWNER_COLUMN[rtype]]).where(t.c.id.in_(_IDS))
    for rtype, t in ((r, TABLES[r].__table__) for r in TABLES)))
_CONVERSATIONS = sa.select(*(Conversation.__table__.c[k] for k in ("id", "project_id", "researcher_id", "place_id"))
                           ).where(Conversation.__table__.c.id.in_(_IDS))
# FOR SHARE (PostgreSQL; SQLite has one writer): a withdrawal or narrowing locks the consent FOR UPDATE, so it
# either waits for this batch to commit and then erases its fragments too, or this batch waits for it and reads
# the consent as it left it. (The fragments' foreign key takes only FOR KEY SHARE, which a withdrawal's UPDATE
# does not wait for.)
_CONSENTS = sa.select(*(Consent.__table__.c[k] for k in ("id", "project_id", "conversation_id", "withdrawn_at")),
                      *(Consent.__table__.c[f"scope_{s.value}"] for s in Scope)).where(Consent.__table__.c.id.in_(_IDS)
                                                                                       ).with_for_update(read=True)
# Each project with the caller's role in it and their training records (a row each; none: one row of nulls).
_PROJECTS = (sa.select(Project.__table__.c.id, Project.__table__.c.questions, Membership.__table__.c.role,
                       TrainingRecord.__table__.c.completed_on, TrainingRecord.__table__.c.expires_on)
             .select_from(Project.__table__)
             .outerjoin(Membership.__table__, sa.and_(Membership.__table__.c.project_id == Project.__table__.c.id,
                                                      Membership.__table__.c.user_id == sa.bindparam("user")))
             .outerjoin(TrainingRecord.__table__,
                        sa.and_(TrainingRecord.__table__.c.project_id == Project.__table__.c.id,
                                TrainingRecord.__table__.c.user_id == sa.bindparam("user")))
             .where(Project.__table__.c.id.in_(_IDS)))
_NAMED = {kind: sa.select(t.c.project_id, t.c.id).where(t.c.id.in_(_IDS))
          for kind, t in (("place", Place.__table__), ("prompt", Prompt.__table__))}
_INSERT = {key: sa.insert(table.__table__) for key, table in (
    ("conversation", Conversation), ("participant", Participant), ("consent", Consent), ("fragment", Fragment))}
_KNOWN_PARTICIPANTS = sa.select(Participant.__table__.c.id).where(Participant.__table__.c.id.in_(_IDS))
_AUDIT = sa.insert(AuditEntry.__table__)
# A phone's last sync is shown to the minute, and a week without one makes it stale: a phone syncing as it captures
# writes its token's row once a minute, not at every request (a statement each, and on PostgreSQL a dead row
# version each).
TOKEN_TOUCH_EVERY = timedelta(minutes=1)
_TOUCH_TOKEN = (sa.update(AuthToken.__table__).where(AuthToken.__table__.c.id == sa.bindparam("token"))
                .values(last_sync_at=sa.bindparam("now"), last_used_at=sa.bindparam("now")))


def content_hash(record: BaseModel) -> str:
    canonical = json.dumps(record.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class ProjectInfo:
    role: str | None
    trained: list[tuple[date, date]]
    places: set[uuid.UUID]
    prompts: set[uuid.UUID]
    questions: list[dict[str, Any]]


@dataclass(frozen=True)
class ConsentInfo:
    project_id: uuid.UUID
    conversation_id: uuid.UUID
    scopes: frozenset[str]
    withdrawn: bool


@dataclass
class Batch:
    """What the checks need: parents from the database and from this batch, and the rows to write."""

    actor: Actor
    device_id: str
    now: datetime
    projects: dict[uuid.UUID, ProjectInfo | None] = field(default_factory=dict)
    conversations: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]] = field(
        default_factory=dict)  # id -> project, owner, place
    consents: dict[uuid.UUID, ConsentInfo] = field(default_factory=dict)
    forms: dict[uuid.UUID, ConsentForm] = field(default_factory=dict)
    participants: set[uuid.UUID] = field(default_factory=set)
    failed: set[uuid.UUID] = field(default_factory=set)
    accepted: dict[uuid.UUID, str] = field(default_factory=dict)  # id -> content hash
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {
        "conversation": [], "participant": [], "consent": [], "fragment": []})


def process(session: Session, actor: Actor, device_id: str, raw_items: list[Any]) -> list[SyncResult]:
    """Check and store a batch, in the caller's transaction.

    On PostgreSQL another request may store some of these ids between the check and the insert (the same batch
    sent twice at once): the insert then raises IntegrityError, and the caller rolls back and calls again, when
    they answer as duplicates (`store`). SQLite cannot: the request holds its write lock from its first
    statement (BEGIN IMMEDIATE)."""
    settings = get_settings()
    if len(raw_items) > settings.sync_max_items:
        raise TooLarge(f"A batch holds at most {settings.sync_max_items} items; send the rest in another batch.",
                       code="batch_too_large")
    return _apply(session, actor, device_id, [_parse(raw) for raw in raw_items])


def store(session: Session, actor: Actor, device_id: str, raw_items: list[Any]) -> list[SyncResult]:
    """`process` for a request whose transaction holds nothing else yet (its token was only read): a collision
    with a concurrent replay rolls the whole transaction back and checks again. A savepoint around each batch
    would do the same at the cost of two more round trips on every sync, for a race that almost never happens."""
    for _attempt in range(3):
        try:
            return process(session, actor, device_id, raw_items)
        except IntegrityError:
            session.rollback()
    raise RuntimeError("sync batch kept colliding with concurrent writes")


def _parse(raw: Any) -> tuple[SyncItem, BaseModel] | SyncResult:
    rid = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    rtype = raw.get("type") if isinstance(raw, dict) and isinstance(raw.get("type"), str) else None
    try:
        item = SyncItem.model_validate(raw)
        return item, PARSERS[item.type].model_validate(item.data)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'item'}: {e['msg']}" for e in exc.errors()[:5])
        return SyncResult(id=rid[:64] if rid else None, type=rtype[:32] if rtype else None, status="rejected",
                          code="invalid", detail=fields)


def _apply(session: Session, actor: Actor, device_id: str,
           parsed: list[tuple[SyncItem, BaseModel] | SyncResult]) -> list[SyncResult]:
    batch = Batch(actor=actor, device_id=device_id, now=utcnow())
    items = [p for p in parsed if not isinstance(p, SyncResult)]
    existing = _existing(session, items)
    _preload(session, batch, items)
    results: list[SyncResult] = []
    for entry in parsed:
        if isinstance(entry, SyncResult):
            if entry.id:
                with contextlib.suppress(ValueError):  # an id that is no UUID has no children to warn
                    batch.failed.add(uuid.UUID(entry.id))
            results.append(entry)
            continue
        item, data = entry
        results.append(_one(session, batch, item, data, existing.get(item.id)))
    _write(session, batch)
    return results


def _one(session: Session, batch: Batch, item: SyncItem, data: BaseModel,
         existing: tuple[str, str, uuid.UUID] | None) -> SyncResult:
    digest = content_hash(data)
    result = SyncResult(id=str(item.id), type=item.type, status="created")
    if item.id in RESERVED_IDS or (existing is not None and existing[2] != batch.actor.id):
        # Someone else's record: say no more than for an id nobody may use (see the README's sync section).
        batch.failed.add(item.id)
        result.status, result.code = "rejected", "id_unavailable"
        result.detail = "This id cannot be used; give the record a new random id."
        return result
    if existing is not None or item.id in batch.accepted:
        if existing is not None:
            etype, ehash, _ = existing
            same = etype == item.type and ehash in (digest, ERASED_HASH)
        else:
            same = batch.accepted[item.id] == digest
        if same:
            result.status = "duplicate"
            if existing is not None and existing[1] == ERASED_HASH:
                result.erased = True
        else:
            batch.failed.add(item.id)
            result.status, result.code = "conflict", "id_in_use"
            result.detail = "The server already holds a different record with this id."
        return result
    try:
        if isinstance(data, ConversationData):
            _conversation(batch, item.id, data, digest)
        elif isinstance(data, ConsentData):
            _consent(batch, item.id, data, digest)
        elif isinstance(data, FragmentData):
            _fragment(batch, item.id, data, digest)
    except Rejected as exc:
        batch.failed.add(item.id)
        result.status, result.code, result.detail = "rejected", exc.code, exc.detail
        return result
    batch.accepted[item.id] = digest
    return result


def _existing(session: Session, items: list[tuple[SyncItem, BaseModel]]) -> dict[uuid.UUID, tuple[str, str, uuid.UUID]]:
    """Which of these ids some table holds already (ids are unique across the three): one query a chunk."""
    ids = [item.id for item, _ in items]
    found: dict[uuid.UUID, tuple[str, str, uuid.UUID]] = {}
    for chunk in _chunks(ids):
        for rtype, rid, rhash, rowner in session.execute(_HELD, {"ids": chunk}):
            found[rid] = (rtype, rhash, rowner)
    return found


def _chunks(ids: list[uuid.UUID], size: int = 500) -> list[list[uuid.UUID]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def _preload(session: Session, batch: Batch, items: list[tuple[SyncItem, BaseModel]]) -> None:
    """The parents and project rules the batch's checks read, in a few queries whatever its size: the
    conversations and consents it names, its consent forms, and per project the caller's role, training and
    only those places and prompts the batch names (checking an id needs no more)."""
    conv_ids = {d.conversation_id for _, d in items if isinstance(d, ConsentData | FragmentData)}
    consent_ids = {d.consent_id for _, d in items if isinstance(d, FragmentData)}
    form_ids = {d.consent_form_id for _, d in items if isinstance(d, ConsentData)}
    project_ids = {d.project_id for _, d in items if isinstance(d, ConversationData)}
    place_ids = {d.place_id for _, d in items if isinstance(d, ConversationData) and d.place_id is not None}
    prompt_ids = {p for _, d in items if isinstance(d, ConversationData) for p in d.prompt_ids}
    prompt_ids |= {d.prompt_id for _, d in items if isinstance(d, FragmentData) and d.prompt_id is not None}
    if conv_ids:
        for cid, pid, owner, place in session.execute(_CONVERSATIONS, {"ids": list(conv_ids)}):
            batch.conversations[cid] = (pid, owner, place)
            project_ids.add(pid)
    if consent_ids:
        for cid, pid, conv, withdrawn_at, *allowed in session.execute(_CONSENTS, {"ids": list(consent_ids)}):
            scopes = frozenset(s.value for s, on in zip(Scope, allowed, strict=True) if on)
            batch.consents[cid] = ConsentInfo(pid, conv, scopes, withdrawn_at is not None)
    if form_ids:
        for form in session.exec(select(ConsentForm).where(col(ConsentForm.id).in_(form_ids))):
            batch.forms[form.id] = form
    if project_ids:
        _project_infos(session, batch, project_ids, place_ids, prompt_ids)


def _project_infos(session: Session, batch: Batch, project_ids: set[uuid.UUID], place_ids: set[uuid.UUID],
                   prompt_ids: set[uuid.UUID]) -> None:
    for pid, questions, role, completed, expires in session.execute(
            _PROJECTS, {"ids": list(project_ids), "user": batch.actor.id}):
        info = batch.projects.get(pid)
        if info is None:
            if role is not None and batch.actor.is_device and role != Role.researcher:
                role = None  # a phone acts only as its researcher (projects.service.role_in)
            info = batch.projects[pid] = ProjectInfo(role=str(role) if role else None, trained=[], places=set(),
                                                     prompts=set(), questions=questions)
        if completed is not None:
            info.trained.append((completed, expires))  # checked for researchers only (_check_capture)
    for kind, named in (("place", place_ids), ("prompt", prompt_ids)):
        if named:
            for pid, rid in session.execute(_NAMED[kind], {"ids": list(named)}):
                info = batch.projects.get(pid)
                if info is not None:
                    (info.places if kind == "place" else info.prompts).add(rid)


def _check_capture(batch: Batch, project_id: uuid.UUID, when: datetime) -> ProjectInfo:
    info = batch.projects.get(project_id)
    if info is None or info.role is None:
        raise Rejected("not_member", "You are not a member of this project (or no longer are).")
    if when > batch.now + timedelta(hours=get_settings().clock_skew_hours):
        raise Rejected("future_time", "This record's time is in the future; check the phone's clock.")
    # Training is checked on the day of capture: a record made while trained is kept even if it syncs later.
    if info.role == Role.researcher and not rules.trained_on(info.trained, when.date()):
        raise Rejected("training_required",
                       "You had no current training for this project on that date; ask your coordinator.")
    return info


def _parent(batch: Batch, parent_id: uuid.UUID, what: str) -> None:
    if parent_id in batch.failed:
        raise Rejected("parent_rejected", f"Its {what} was not accepted, so this record cannot be either.")


def _own_conversation(batch: Batch, conversation_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID | None]:
    """The project and place of a conversation this researcher holds."""
    _parent(batch, conversation_id, "conversation")
    conv = batch.conversations.get(conversation_id)
    if conv is None or conv[1] != batch.actor.id:
        raise Rejected("unknown_conversation", "No conversation of yours has this id; send the conversation first.")
    return conv[0], conv[2]


def _conversation(batch: Batch, rid: uuid.UUID, d: ConversationData, digest: str) -> None:
    info = _check_capture(batch, d.project_id, d.started_at)
    if d.place_id is not None and d.place_id not in info.places:
        raise Rejected("unknown_place", "That place is not one of this project's.")
    if not set(d.prompt_ids) <= info.prompts:
        raise Rejected("unknown_prompt", "A prompt is not one of this project's.")
    batch.conversations[rid] = (d.project_id, batch.actor.id, d.place_id)
    batch.rows["conversation"].append({
        "id": rid, "project_id": d.project_id, "researcher_id": batch.actor.id, "place_id": d.place_id,
        "prompt_ids": [str(p) for p in d.prompt_ids], "started_at": d.started_at, "note": d.note,
        "device_id": batch.device_id, "received_at": batch.now, "updated_at": batch.now, "version": 1,
        "sync_hash": digest})


def _consent(batch: Batch, rid: uuid.UUID, d: ConsentData, digest: str) -> None:
    project_id, _ = _own_conversation(batch, d.conversation_id)
    _check_capture(batch, project_id, d.given_at)
    form = batch.forms.get(d.consent_form_id)
    if form is None or form.project_id != project_id:
        raise Rejected("unknown_consent_form", "That consent form is not one of this project's.")
    scopes = {s.value for s in d.scopes}
    if not scopes <= set(form.scopes):
        raise Rejected("scope_not_on_form", "The consent asks for a scope its form does not offer.")
    if d.method == "signed" and not d.signature:
        raise Rejected("signature_required", "A signed consent needs the signature drawn on screen.")
    if d.method != "signed" and d.signature:
        raise Rejected("unexpected_signature", "Only a signed consent carries a signature.")
    pid = participant_id(d.conversation_id, d.participant_label)
    if pid not in batch.participants:
        batch.participants.add(pid)
        batch.rows["participant"].append({"id": pid, "project_id": project_id,
                                          "conversation_id": d.conversation_id, "label": d.participant_label})
    row = {"id": rid, "project_id": project_id, "conversation_id": d.conversation_id, "participant_id": pid,
           "consent_form_id": form.id, "method": d.method.value, "given_at": d.given_at, "signature": d.signature,
           "recorded_by": batch.actor.id, "received_at": batch.now, "withdrawn_at": None, "withdrawn_by": None,
           "version": 1, "sync_hash": digest,
           **{f"scope_{s.value}": s.value in scopes for s in Scope}}
    batch.consents[rid] = ConsentInfo(project_id, d.conversation_id, frozenset(scopes), False)
    batch.rows["consent"].append(row)


def _fragment(batch: Batch, rid: uuid.UUID, d: FragmentData, digest: str) -> None:
    project_id, place_id = _own_conversation(batch, d.conversation_id)
    _parent(batch, d.consent_id, "consent")
    consent = batch.consents.get(d.consent_id)
    if consent is None or consent.project_id != project_id:
        raise Rejected("unknown_consent", "No consent with this id; send the consent first.")
    if consent.conversation_id != d.conversation_id:
        raise Rejected("consent_other_conversation", "That consent was given in another conversation.")
    if consent.withdrawn:
        raise Rejected("consent_withdrawn", "The participant has withdrawn consent; this fragment cannot be kept.")
    info = _check_capture(batch, project_id, d.captured_at)
    rules.check_kind_allowed(d.kind, consent.scopes)
    if d.prompt_id is not None and d.prompt_id not in info.prompts:
        raise Rejected("unknown_prompt", "That prompt is not one of this project's.")
    rules.check_answers(info.questions, d.answers)
    batch.rows["fragment"].append({
        "id": rid, "project_id": project_id, "conversation_id": d.conversation_id, "consent_id": d.consent_id,
        "researcher_id": batch.actor.id, "place_id": place_id, "prompt_id": d.prompt_id, "kind": d.kind.value,
        "text": d.text, "answers": d.answers, "language": d.language, "sensitive": d.sensitive,
        "captured_at": d.captured_at, "received_at": batch.now, "updated_at": batch.now,
        "status": FragmentStatus.active.value, "erased_at": None, "reviewed_at": None, "reviewed_by": None,
        "version": 1, "sync_hash": digest})


def _write(session: Session, batch: Batch) -> None:
    rows = batch.rows
    if rows["participant"]:
        known = set(session.execute(_KNOWN_PARTICIPANTS, {"ids": [r["id"] for r in rows["participant"]]}).scalars())
        rows["participant"] = [r for r in rows["participant"] if r["id"] not in known]
    for key in ("conversation", "participant", "consent", "fragment"):
        if rows[key]:
            # Core inserts on the tables: the ORM's bulk path costs more than the database does here.
            session.execute(_INSERT[key], rows[key])
    for key in ("conversation", "consent", "fragment"):
        owner = OWNER_COLUMN[key]
        for r in rows[key]:
            feed.record(session, project_id=r["project_id"], entity=key, entity_id=r["id"], owner_id=r[owner],
                        new=True)
    if rows["consent"]:
        # Rule 5: every change to consent is audited.
        session.execute(_AUDIT, [
            {"at": batch.now, "actor_id": batch.actor.id, "project_id": r["project_id"], "action": "consent.create",
             "entity": "consent", "entity_id": str(r["id"]),
             "detail": {"scopes": [s.value for s in Scope if r[f"scope_{s.value}"]], "method": r["method"]}}
            for r in rows["consent"]])
    last = batch.actor.token.last_sync_at
    if last is None or batch.now - last >= TOKEN_TOUCH_EVERY:
        # Core, not the ORM: the token's own row is all that changes, and a flush of the loaded object costs more.
        session.execute(_TOUCH_TOKEN, {"token": batch.actor.token.id, "now": batch.now})
