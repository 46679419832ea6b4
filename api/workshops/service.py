"""Workshops: preparing a pack, freezing it into numbered cards, running a board, closing into the codebook.

What a card shows is decided in cards.py alone. Here: who may do what, the state machine (draft -> ready ->
running -> closed, each step audited), the board's operations (each with the client's id, applied once, in the
order of a per-workshop sequence taken under the workshop row's lock, so every screen that applies them in seq
order ends in the same state), and closing (themes become tags through the tags domain, as any tagging does).
"""

import re
import secrets
import uuid
from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api import inputs
from api.audit import service as audit
from api.clients.deps import ClientActor, Reader
from api.clients.models import Audience, ClientScope
from api.db import utcnow
from api.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from api.fragments import service as fragments
from api.fragments.models import SEARCH_FILTERS, Fragment, FragmentStatus, SavedSearch
from api.memos import service as memos
from api.memos.models import Memo, MemoTag
from api.people import throttle
from api.people.deps import JOIN_TOKEN_PREFIX, Actor
from api.people.security import digest
from api.projects import service as projects
from api.projects.models import Project
from api.tags import service as tags
from api.tags.models import FragmentTag, Tag, TagCreate, TagFragmentsChange, free_name
from api.workshops import cards as card_rule
from api.workshops.models import (
    OPEN_FOR_GUESTS,
    BoardOp,
    Guest,
    Note,
    Pack,
    PackAdd,
    PackAddResult,
    PackItem,
    Theme,
    WithdrawnCard,
    Workshop,
    WorkshopAudience,
    WorkshopCreate,
    WorkshopPublic,
    WorkshopState,
    WorkshopUpdate,
)

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # read aloud and typed on a phone: no 0/O, 1/I/L
MAX_PACK = 2000
NEXT_STATES = {WorkshopState.draft: {WorkshopState.ready},
               WorkshopState.ready: {WorkshopState.draft, WorkshopState.running, WorkshopState.closed},
               WorkshopState.running: {WorkshopState.closed},
               WorkshopState.closed: set()}


def public(w: Workshop, reader: Reader | None = None) -> WorkshopPublic:
    """The workshop as its coordinators see it. An API client gets no `short_code`: the code alone lets anyone
    join the board, whose audience may be wider than the client's own consent scope."""
    out = WorkshopPublic.model_validate(w)
    if isinstance(reader, ClientActor):
        out.short_code = None
    return out


def _audit(session: Session, actor: Actor, w: Workshop, action: str, detail: dict[str, Any] | None = None) -> None:
    audit.record(session, actor_id=actor.id, action=f"workshop.{action}", entity="workshop", entity_id=w.id,
                 project_id=w.project_id, detail=detail or {})


def _new_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
        if session.exec(select(Workshop.id).where(Workshop.short_code == code)).first() is None:
            return code


def create(session: Session, actor: Actor, project: Project, data: WorkshopCreate) -> Workshop:
    w = Workshop(project_id=project.id, created_by=actor.id, short_code=_new_code(session), **data.model_dump())
    session.add(w)
    session.flush()
    _audit(session, actor, w, "create", {"audience": str(w.audience)})
    return w


def get_for_coordinator(session: Session, actor: Actor, workshop_id: uuid.UUID, lock: bool = False) -> Workshop:
    """The workshop, for a coordinator of its project (or an admin); 404 to anyone outside the project."""
    q = select(Workshop).where(Workshop.id == workshop_id)
    w = session.exec(q.with_for_update().execution_options(populate_existing=True) if lock else q).first()
    if w is None or projects.role_in(session, actor, w.project_id) is None:
        raise NotFound("No such workshop.")
    projects.require_coordinator(session, actor, w.project_id)
    return w


def get_for_state_change(session: Session, actor: Actor, workshop_id: uuid.UUID, to: WorkshopState) -> Workshop:
    """The workshop, locked. Closing tags its cards' fragments, and its commit then locks every open board showing
    them: those fragments are locked first, then those boards in id order, as every path takes them (see
    `reload_boards_showing`). Locking this workshop first met an edit of a card holding its fragment and, at its
    commit, waiting for the board; or a close of another board showing the same cards."""
    if to == WorkshopState.closed:
        w = get_for_coordinator(session, actor, workshop_id)
        cards = select(PackItem.fragment_id).where(PackItem.workshop_id == w.id)
        session.exec(select(Fragment.id).where(col(Fragment.id).in_(cards)).order_by(col(Fragment.id))
                     .with_for_update(read=True)).all()
        showing = select(PackItem.workshop_id).where(col(PackItem.fragment_id).in_(cards))
        session.exec(select(Workshop.id).where(sa.or_(Workshop.id == w.id, sa.and_(
            col(Workshop.id).in_(showing), col(Workshop.state).in_(OPEN_FOR_GUESTS))))
            .order_by(col(Workshop.id)).with_for_update()).all()
    return get_for_coordinator(session, actor, workshop_id, lock=True)


def list_for_project(session: Session, project_id: uuid.UUID) -> list[Workshop]:
    return list(session.exec(select(Workshop).where(Workshop.project_id == project_id)
                             .order_by(col(Workshop.starts_at).desc(), col(Workshop.id))))


def update(session: Session, actor: Actor, w: Workshop, data: WorkshopUpdate) -> Workshop:
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    if w.state == WorkshopState.closed:
        raise Conflict("A closed workshop no longer changes.", code="workshop_closed")
    if "audience" in changes and w.state != WorkshopState.draft:
        raise Conflict("The audience is fixed once the pack is frozen; set it back to draft first.",
                       code="pack_frozen")
    for key, value in changes.items():
        setattr(w, key, value)
    w.updated_at = utcnow()
    session.add(w)
    _audit(session, actor, w, "update", {"fields": sorted(changes)})
    return w


# --- the pack -------------------------------------------------------------------------------------------------

def _require_draft(w: Workshop) -> None:
    if w.state != WorkshopState.draft:
        raise Conflict("The pack is frozen; set the workshop back to draft to change it.", code="pack_frozen")


def add_to_pack(session: Session, actor: Actor, w: Workshop, data: PackAdd) -> PackAddResult:
    """Add fragments by id, by a saved search and/or by tag. Fragments the audience may not see are kept in the
    pack but left out of its cards, and counted per reason."""
    _require_draft(w)
    wanted: list[uuid.UUID] = list(dict.fromkeys(data.fragment_ids))
    if data.saved_search_id is not None:
        search = session.get(SavedSearch, data.saved_search_id)
        if search is None or search.project_id != w.project_id:
            raise Invalid("No such saved search in this workshop's project.", code="unknown_saved_search")
        wanted += _saved_search_ids(session, actor, w, search)
    if data.tag_id is not None:
        tag = session.get(Tag, data.tag_id)
        if tag is None or tag.project_id != w.project_id:
            raise Invalid("No such tag in this workshop's project.", code="unknown_tag")
        wanted += list(session.exec(select(FragmentTag.fragment_id).where(FragmentTag.tag_id == tag.id)
                                    .limit(MAX_PACK + 1)))
    wanted = list(dict.fromkeys(wanted))
    found = set(session.exec(select(Fragment.id).where(col(Fragment.id).in_(wanted),
                                                       Fragment.project_id == w.project_id))) if wanted else set()
    if bad := [i for i in wanted if i not in found]:
        raise Invalid(f"{len(bad)} of these fragments are not in this workshop's project; nothing was added.",
                      code="bad_fragments", extra={"ids": [str(i) for i in bad[:50]]})
    have = {i.fragment_id: i for i in session.exec(select(PackItem).where(PackItem.workshop_id == w.id))}
    new = [i for i in wanted if i not in have]
    if len(have) + len(new) > MAX_PACK:
        raise Conflict(f"A pack holds at most {MAX_PACK} fragments.", code="pack_too_large")
    start = max((i.position for i in have.values()), default=0)
    for n, fid in enumerate(new, start=1):
        session.add(PackItem(workshop_id=w.id, fragment_id=fid, position=start + n, added_by=actor.id))
    session.flush()
    if new:
        _audit(session, actor, w, "pack.add", {"added": len(new)})
    counts = Counter(x.reason for x in card_rule.cards(session, w).left_out if x.fragment_id in set(new))
    return PackAddResult(added=len(new), already=len(wanted) - len(new), left_out=dict(counts))


def _saved_search_ids(session: Session, actor: Actor, w: Workshop, search: SavedSearch) -> list[uuid.UUID]:
    """The active fragments a saved search finds now (as GET /fragments would list them), up to a pack's size."""
    from pydantic import TypeAdapter

    renamed = {"place": "place_id", "tag": "tag_id"}
    filters: dict[str, Any] = {renamed.get(k, k): TypeAdapter(SEARCH_FILTERS[k]).validate_python(v)
                               for k, v in search.query.items() if k in SEARCH_FILTERS and k != "q"}
    filters["status"] = FragmentStatus.active
    out: list[uuid.UUID] = []
    cursor = None
    while len(out) <= MAX_PACK:
        rows, cursor = fragments.list_fragments(session, actor, project_id=w.project_id, filters=filters,
                                                q=search.query.get("q"), cursor=cursor, limit=200)
        out += [f.id for f in rows]
        if cursor is None:
            break
    return out


def remove_from_pack(session: Session, actor: Actor, w: Workshop, ids: list[uuid.UUID]) -> int:
    _require_draft(w)
    n = session.execute(sa.delete(PackItem).where(PackItem.workshop_id == w.id,
                                                  col(PackItem.fragment_id).in_(ids))).rowcount
    _audit(session, actor, w, "pack.remove", {"removed": n})
    return n


def include_sensitive(session: Session, actor: Actor, w: Workshop, fragment_id: uuid.UUID, include: bool) -> None:
    """A coordinator puts one sensitive fragment in front of the room, knowingly (audited); never for `public`."""
    _require_draft(w)
    if include and w.audience == WorkshopAudience.public:
        raise Conflict("Sensitive fragments never go into a public workshop.", code="sensitive_public")
    item = session.exec(select(PackItem).where(PackItem.workshop_id == w.id,
                                               PackItem.fragment_id == fragment_id)).first()
    if item is None:
        raise NotFound("This fragment is not in the pack.")
    item.sensitive_included_by = actor.id if include else None
    session.add(item)
    _audit(session, actor, w, "pack.include_sensitive" if include else "pack.exclude_sensitive",
           {"fragment_id": str(fragment_id)})


# Why a numbered card may no longer be shown, said to the coordinator holding the printed pack.
NO_LONGER = {card_rule.NO_SHARE: "its consent no longer allows sharing",
             card_rule.NO_PUBLISH: "its consent no longer allows publishing",
             card_rule.NO_QUOTE: "its consent no longer allows quoting",
             card_rule.SENSITIVE: "it was flagged sensitive", card_rule.SENSITIVE_PUBLIC: "it was flagged sensitive"}


def withdrawn_cards(cards: card_rule.Cards) -> list[WithdrawnCard]:
    """Numbered (so maybe printed) cards the audience may no longer see, not yet confirmed taken out: the fragment
    was erased, or its consent lost the scope this audience needs, or it was flagged sensitive since."""
    reasons = {x.fragment_id: x.reason for x in cards.left_out}
    out = []
    for item in cards.items:
        reason = reasons.get(item.fragment_id)
        if item.number is None or item.withdrawal_confirmed_at is not None or reason is None:
            continue
        f = cards.fragments.get(item.fragment_id)
        if reason == card_rule.ERASED:
            when = (f.erased_at if f is not None else None) or utcnow()
            message = f"card {item.number} was withdrawn on {when:%Y-%m-%d} — take it out of the printed pack"
        else:
            when = utcnow()
            message = f"card {item.number} may no longer be shown: {NO_LONGER[reason]} — take it out of the " \
                      "printed pack"
        out.append(WithdrawnCard(number=item.number, withdrawn_on=when, message=message))
    return sorted(out, key=lambda c: c.number)


def pack(session: Session, w: Workshop) -> Pack:
    c = card_rule.cards(session, w)
    return Pack(workshop=public(w), cards=c.shown, left_out=c.counts(), left_out_items=c.left_out,
                withdrawn=withdrawn_cards(c))


def audit_print(session: Session, actor: Actor, w: Workshop, n: int) -> None:
    """A printed pack is an export: audited (counts, never words). GET requests run read-only, hence apart."""
    from api.db import commit_apart

    commit_apart(audit.entry_for(actor_id=actor.id, action="workshop.print", entity="workshop", entity_id=w.id,
                                 project_id=w.project_id, detail={"cards": n}))


def confirm_withdrawn(session: Session, actor: Actor, w: Workshop, number: int) -> None:
    c = card_rule.cards(session, w)
    if number not in {x.number for x in withdrawn_cards(c)}:
        raise NotFound(f"Card {number} is not waiting to be taken out.")
    item = next(i for i in c.items if i.number == number)
    item.withdrawal_confirmed_at = utcnow()
    session.add(item)
    _audit(session, actor, w, "card.removed_from_print", {"number": number})


# --- states -----------------------------------------------------------------------------------------------------

def change_state(session: Session, actor: Actor, w: Workshop, to: WorkshopState) -> Workshop:
    if to not in NEXT_STATES[w.state]:
        raise Conflict(f"A {w.state} workshop cannot become {to}.", code="bad_transition")
    c = card_rule.cards(session, w)
    before = w.state
    if to == WorkshopState.ready:
        if not c.shown:
            raise Conflict("The pack has no cards the audience may see.", code="empty_pack")
        shown = {x.id for x in c.shown}
        for n, item in enumerate([i for i in c.items if i.id in shown], start=1):
            item.number = n
            session.add(item)
        w.frozen_at = utcnow()
    elif to == WorkshopState.draft:
        for item in c.items:
            item.number = None
            session.add(item)
        w.frozen_at = None
        # Whoever joined was let in for that pack and that audience, which may now change: every guest's session
        # ends, and the board gets a new code (the old one, printed on the cards, opens nothing again).
        session.execute(sa.update(Guest).where(col(Guest.workshop_id) == w.id, col(Guest.removed_at).is_(None))
                        .values(removed_at=utcnow()))
        w.short_code = _new_code(session)
    elif to == WorkshopState.closed:
        _close(session, actor, w, c)
    w.state = to
    w.updated_at = utcnow()
    session.add(w)
    session.flush()
    _audit(session, actor, w, "state", {"from": str(before), "to": str(to), "cards": len(c.shown)})
    return w


# --- closing: themes into the codebook ----------------------------------------------------------------------------

def _free_tag_name(session: Session, project_id: uuid.UUID, name: str) -> str:
    return free_name(name, set(session.exec(select(Tag.name).where(Tag.project_id == project_id))))


def _close(session: Session, actor: Actor, w: Workshop, c: card_rule.Cards) -> None:
    """A parent tag named after the workshop, a child per theme applied to the theme's cards' fragments (through
    the tags domain, so the change feed and `tag.changed` webhooks fire as for any tagging). Themes keep counts."""
    project = session.get(Project, w.project_id)
    assert project is not None
    themes = [t for t in session.exec(select(Theme).where(Theme.workshop_id == w.id, col(Theme.removed).is_(False))
                                      .order_by(col(Theme.y), col(Theme.x), col(Theme.id)))]
    by_theme: dict[uuid.UUID, list[uuid.UUID]] = {}
    for card in c.shown:
        if card.theme_id is not None:
            by_theme.setdefault(card.theme_id, []).append(card.fragment_id)
    if themes:
        parent = tags.create(session, actor, project, TagCreate(
            name=_free_tag_name(session, w.project_id, f"Workshop: {w.title} ({w.starts_at:%Y-%m-%d})"),
            description=w.question[:2000]))
        w.parent_tag_id = parent.id
        for n, theme in enumerate(themes, start=1):
            tag = tags.create(session, actor, project, TagCreate(
                name=_free_tag_name(session, w.project_id, theme.name.strip() or f"Theme {n}"), parent_id=parent.id))
            theme.tag_id = tag.id
            theme.card_count = len(by_theme.get(theme.id, []))
            session.add(theme)
            if by_theme.get(theme.id):
                tags.change_fragments(session, actor, tag, TagFragmentsChange(add=by_theme[theme.id], remove=[]))
    _notes_into_memos(session, actor, w, {t.id: t for t in themes}, by_theme)
    w.closed_at = utcnow()
    w.locked = True


def _notes_into_memos(session: Session, actor: Actor, w: Workshop, themes: dict[uuid.UUID, Theme],
                      by_theme: dict[uuid.UUID, list[uuid.UUID]]) -> None:
    """Each note the room kept becomes a memo (through the memos domain, so it is audited as any memo): a note on a
    theme is linked to the theme's new tag and its active fragments, a note on the board to the workshop's tag. The
    text says where it came from. A memo already made for the note (same tag, same text) is not made twice."""
    notes = session.exec(select(Note).where(Note.workshop_id == w.id, col(Note.removed).is_(False))
                         .order_by(col(Note.created_at), col(Note.id))).all()
    for note in notes:
        if not note.text.strip():
            continue
        theme = themes.get(note.theme_id) if note.theme_id is not None else None
        if theme is not None:
            name = theme.name.strip() or "untitled"
            text = f"Workshop {w.title}, theme {name}: {note.text}"
            tag_id, fragment_ids = theme.tag_id, _active(session, by_theme.get(theme.id, []))
        else:
            text = f"Workshop {w.title}, board: {note.text}"
            tag_id, fragment_ids = w.parent_tag_id, []
        made = select(Memo.id).where(Memo.project_id == w.project_id, Memo.text == text)
        if tag_id is not None:
            made = made.where(col(Memo.id).in_(select(MemoTag.memo_id).where(MemoTag.tag_id == tag_id)))
        if session.exec(made).first() is not None:
            continue
        memos.create_memo(session, actor, w.project_id, text, fragment_ids, [tag_id] if tag_id else [])


def _active(session: Session, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if not ids:
        return []
    found = set(session.exec(select(Fragment.id).where(col(Fragment.id).in_(ids),
                                                      Fragment.status == FragmentStatus.active)))
    return [i for i in ids if i in found]


# --- guests: joining by short code ------------------------------------------------------------------------------

def join_qr_svg(link: str) -> str:
    """The join link as a QR code for a projector or a printed sheet (error correction M survives glare)."""
    import io

    import segno

    qr = segno.make_qr(link, error="m", boost_error=False)
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=6, border=4, light="#fff", xmldecl=False, nl=False,
            title="QR code to join the workshop board")
    size = qr.symbol_size(scale=6, border=4)[0]
    return out.getvalue().decode().replace("<svg ", f'<svg role="img" viewBox="0 0 {size} {size}" ', 1)


def join(session: Session, code: str, name: str, address: str) -> tuple[Workshop, str]:
    """A join token for the board a short code opens. Tries are counted per client address and overall, with the
    enrolment codes' limits (a right code is taken back off both, so a hall full of phones behind one address all
    get in): the code space cannot be searched, however many addresses a guesser has."""
    tries = throttle.count_code_guess("join", address, "Too many wrong workshop codes; try again later.")
    w = session.exec(select(Workshop).where(Workshop.short_code == code.strip().upper())).first()
    if w is None or w.state not in OPEN_FOR_GUESTS:
        raise NotFound("No board is open with that code.", code="no_such_board")
    if w.audience == WorkshopAudience.project:
        # Its cards need no `share`: they are for the project's own people, and a code proves no one is one of them.
        raise Forbidden("This board is for the project's own team, on the facilitator's screen; join codes open "
                        "mixed and public boards.", code="board_for_team")
    if session.exec(select(sa.func.count()).select_from(Guest).where(Guest.workshop_id == w.id)).one() >= GUESTS_MAX:
        raise Conflict("This board is full.", code="board_full")
    throttle.uncount_all(session, tries)
    secret = JOIN_TOKEN_PREFIX + secrets.token_urlsafe(24)
    session.add(Guest(workshop_id=w.id, token_hash=digest(secret), name=name.strip()[:60]))
    session.flush()
    return w, secret


def guest_for_token(session: Session, secret: str) -> tuple[Guest, Workshop]:
    """The guest a join token belongs to, while it may still open its board: not removed, workshop not closed."""
    guest = session.exec(select(Guest).where(Guest.token_hash == digest(secret))).first()
    w = session.get(Workshop, guest.workshop_id) if guest else None
    if guest is not None and guest.removed_at is not None:  # the phone says so, and lets the cards go
        raise Unauthorized("The facilitator has taken this guest off the board.", code="guest_removed")
    if guest is None or w is None or w.state not in OPEN_FOR_GUESTS or w.audience == WorkshopAudience.project:
        raise Unauthorized("This join code no longer opens a board.", code="board_closed")
    return guest, w


def remove_guest(session: Session, actor: Actor, w: Workshop, guest_id: uuid.UUID) -> None:
    guest = session.get(Guest, guest_id)
    if guest is None or guest.workshop_id != w.id:
        raise NotFound("No such participant on this board.")
    guest.removed_at = guest.removed_at or utcnow()
    session.add(guest)
    _audit(session, actor, w, "guest.remove", {"guest_id": str(guest_id)})


def guests(session: Session, w: Workshop) -> list[Guest]:
    return list(session.exec(select(Guest).where(Guest.workshop_id == w.id, col(Guest.removed_at).is_(None))
                             .order_by(col(Guest.joined_at))))


# --- the board -------------------------------------------------------------------------------------------------

GUEST_OPS = {"move", "note"}
# What one participant's phone may put on a board (a flood from one join token grew a board to 61,500 notes and held
# the write lock phones sync through): operations answered per request (the rest wait in the phone's queue and go
# next time), in all, notes, a note's length; and how many may join one board.
GUEST_BATCH = 50
GUEST_OPS_MAX = 2000
GUEST_NOTES_MAX = 30
GUEST_NOTE_CHARS = 500
GUESTS_MAX = 300
OP_KINDS = {"move", "theme", "theme_remove", "note", "note_remove", "vote", "lock"}
Float = (int, float)


def board_state(session: Session, w: Workshop, for_guest: bool) -> dict[str, Any]:
    c = card_rule.cards(session, w)
    themes = session.exec(select(Theme).where(Theme.workshop_id == w.id, col(Theme.removed).is_(False))).all()
    notes = session.exec(select(Note).where(Note.workshop_id == w.id, col(Note.removed).is_(False))).all()
    cards = [dict(x.model_dump(mode="json", include=set(card_rule.Card.model_fields)), x=x.x, y=x.y,
                  theme_id=str(x.theme_id) if x.theme_id else None) for x in c.shown]
    return {"workshop": {"id": str(w.id), "title": w.title, "question": w.question, "state": str(w.state),
                         "short_code": w.short_code, "locked": w.locked, "audience": str(w.audience)},
            "seq": w.board_seq, "cards": cards,
            "themes": [{"id": str(t.id), "name": t.name, "x": t.x, "y": t.y, "votes": t.votes} for t in themes],
            "notes": [{"id": str(n.id), "text": n.text, "theme_id": str(n.theme_id) if n.theme_id else None,
                       "x": n.x, "y": n.y} for n in notes],
            "guests": None if for_guest else [{"id": str(g.id), "name": g.name} for g in guests(session, w)]}


def _num(data: dict[str, Any], key: str) -> float:
    v = data.get(key, 0)
    if not isinstance(v, Float) or isinstance(v, bool) or not -1e6 <= v <= 1e6:
        raise Invalid(f"{key} must be a number.", code="bad_op")
    return float(v)


def _uuid(data: dict[str, Any], key: str, optional: bool = False) -> uuid.UUID | None:
    v = data.get(key)
    if v is None and optional:
        return None
    try:
        return uuid.UUID(str(v))
    except ValueError as exc:
        raise Invalid(f"{key} must be an id.", code="bad_op") from exc


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    """A note's or theme's words, held to the API's rule for text (no control characters but tab, newline and CR:
    a guest's note becomes a memo at closing, and went into every later .qdpx as XML no tool could read)."""
    v = data.get(key, "")
    if not isinstance(v, str) or len(v) > limit or inputs.control_char(v) is not None:
        raise Invalid(f"{key} must be text of at most {limit} characters, without control characters.",
                      code="bad_op")
    return v


def _theme_of(session: Session, w: Workshop, theme_id: uuid.UUID | None) -> Theme | None:
    if theme_id is None:
        return None
    t = session.get(Theme, theme_id)
    if t is None or t.workshop_id != w.id or t.removed:
        raise Invalid("No such theme on this board.", code="bad_op")
    return t


def _apply(session: Session, w: Workshop, kind: str, data: dict[str, Any], visible: set[uuid.UUID],
           guest: Guest | None = None) -> dict[str, Any]:
    """Apply one operation to the board's state; answers the data as it went into the log (normalised). A guest
    writes new notes and edits its own, never another's nor one taken off the board."""
    if kind == "move":
        card_id = _uuid(data, "card_id")
        item = session.get(PackItem, card_id)
        if item is None or item.workshop_id != w.id or card_id not in visible:
            raise Invalid("No such card on this board.", code="bad_op")
        theme = _theme_of(session, w, _uuid(data, "theme_id", optional=True))
        item.x, item.y, item.theme_id = _num(data, "x"), _num(data, "y"), theme.id if theme else None
        session.add(item)
        return {"card_id": str(item.id), "x": item.x, "y": item.y, "theme_id": str(theme.id) if theme else None}
    if kind == "theme":
        tid = _uuid(data, "theme_id")
        assert tid is not None
        t = session.get(Theme, tid)
        if t is not None and t.workshop_id != w.id:
            raise Invalid("No such theme on this board.", code="bad_op")
        t = t or Theme(id=tid, workshop_id=w.id)
        t.name, t.x, t.y, t.removed = _text(data, "name", 200), _num(data, "x"), _num(data, "y"), False
        session.add(t)
        return {"theme_id": str(t.id), "name": t.name, "x": t.x, "y": t.y}
    if kind == "theme_remove":
        t = _theme_of(session, w, _uuid(data, "theme_id"))
        assert t is not None
        t.removed = True
        session.add(t)
        session.execute(sa.update(PackItem).where(PackItem.workshop_id == w.id, PackItem.theme_id == t.id)
                        .values(theme_id=None))
        # Its notes stay, on the board: the room wrote them, and the report and the memos at closing show them.
        session.execute(sa.update(Note).where(col(Note.workshop_id) == w.id, col(Note.theme_id) == t.id)
                        .values(theme_id=None))
        return {"theme_id": str(t.id)}
    if kind == "vote":
        t = _theme_of(session, w, _uuid(data, "theme_id"))
        delta = data.get("delta", 1)
        if t is None or delta not in (1, -1):
            raise Invalid("A vote is +1 or -1 on a theme.", code="bad_op")
        t.votes = max(0, t.votes + delta)
        session.add(t)
        return {"theme_id": str(t.id), "votes": t.votes}
    if kind == "note":
        nid = _uuid(data, "note_id")
        text = _text(data, "text", 2000).strip()
        if not text:
            raise Invalid("A note needs some text.", code="bad_op")
        theme = _theme_of(session, w, _uuid(data, "theme_id", optional=True))
        n = session.get(Note, nid)
        if n is not None and (n.workshop_id != w.id
                              or guest is not None and (n.removed or not _note_ops(session, w, n.id, guest))):
            raise Invalid("No such note on this board.", code="bad_op")
        n = n or Note(id=nid, workshop_id=w.id, text=text)
        n.text, n.theme_id, n.x, n.y, n.removed = text, theme.id if theme else None, _num(data, "x"), \
            _num(data, "y"), False
        session.add(n)
        return {"note_id": str(n.id), "text": n.text, "theme_id": str(n.theme_id) if n.theme_id else None,
                "x": n.x, "y": n.y}
    if kind == "note_remove":
        n = session.get(Note, _uuid(data, "note_id"))
        if n is None or n.workshop_id != w.id:
            raise Invalid("No such note on this board.", code="bad_op")
        n.removed = True
        session.add(n)
        # Its words leave the log too, which replays to every screen (a note naming someone, taken down).
        for written in _note_ops(session, w, n.id):
            written.data = {**written.data, "text": ""}
            session.add(written)
        return {"note_id": str(n.id)}
    if kind == "lock":
        w.locked = bool(data.get("locked"))
        return {"locked": w.locked}
    raise Invalid(f"Unknown operation {kind!r}.", code="bad_op")


def _note_ops(session: Session, w: Workshop, note_id: uuid.UUID, guest: Guest | None = None) -> list[BoardOp]:
    """The operations that wrote this note (by this guest): a board has a few thousand at most."""
    stmt = select(BoardOp).where(BoardOp.workshop_id == w.id, BoardOp.kind == "note")
    if guest is not None:
        stmt = stmt.where(BoardOp.by_participant == guest.id)
    return [o for o in session.exec(stmt) if o.data.get("note_id") == str(note_id)]


def apply_ops(session: Session, w: Workshop, ops: list[dict[str, Any]], *, user: Actor | None = None,
              guest: Guest | None = None) -> list[dict[str, Any]]:
    """Apply a batch of operations in order, each once: a resent id answers `duplicate` with its first seq. One
    refused operation does not sink the others. The caller holds the workshop row locked (see get_for_*)."""
    if w.state not in OPEN_FOR_GUESTS:
        raise Conflict("The board is open only while the workshop is ready or running.", code="board_not_open")
    visible = {c.id for c in card_rule.cards(session, w).shown}
    results: list[dict[str, Any]] = []
    made: dict[str, int] = {}
    if guest is not None:
        ops = ops[:GUEST_BATCH]
        made = dict(session.execute(select(BoardOp.kind, sa.func.count()).where(
            BoardOp.workshop_id == w.id, BoardOp.by_participant == guest.id).group_by(BoardOp.kind)).all())
    for op in ops:
        op_id, kind, data = op.get("id"), op.get("kind"), op.get("data") or {}
        try:
            oid = uuid.UUID(str(op_id))
        except ValueError:
            results.append({"id": str(op_id)[:40], "status": "rejected", "reason": "bad_id"})
            continue
        seen = session.get(BoardOp, oid)
        if seen is not None:
            same = seen.workshop_id == w.id
            results.append({"id": str(oid), "status": "duplicate" if same else "rejected",
                            **({"seq": seen.seq} if same else {"reason": "id_taken"})})
            continue
        if guest is not None and (kind not in GUEST_OPS or w.locked):
            results.append({"id": str(oid), "status": "rejected",
                            "reason": "board_locked" if w.locked else "not_allowed"})
            continue
        if not isinstance(data, dict) or kind not in OP_KINDS:
            results.append({"id": str(oid), "status": "rejected", "reason": "bad_op"})
            continue
        if guest is not None and (limit := _guest_limit(kind, data, made)):
            results.append({"id": str(oid), "status": "rejected", "reason": limit})
            continue
        try:
            with session.begin_nested():
                stored = _apply(session, w, kind, data, visible, guest)
                session.flush()
        except Invalid as exc:
            results.append({"id": str(oid), "status": "rejected", "reason": exc.code, "detail": exc.detail})
            continue
        w.board_seq += 1
        made[kind] = made.get(kind, 0) + 1
        session.add(BoardOp(id=oid, workshop_id=w.id, seq=w.board_seq, kind=kind, data=stored,
                            by_user=user.id if user else None, by_participant=guest.id if guest else None))
        results.append({"id": str(oid), "status": "applied", "seq": w.board_seq})
    session.add(w)
    session.flush()
    return results


def _guest_limit(kind: str, data: dict[str, Any], made: dict[str, int]) -> str | None:
    """Why a participant's operation goes past what one phone may put on a board, given what it made already."""
    if sum(made.values()) >= GUEST_OPS_MAX:
        return "too_many_operations"
    if kind == "note" and made.get("note", 0) >= GUEST_NOTES_MAX:
        return "too_many_notes"
    if kind == "note" and len(str(data.get("text", ""))) > GUEST_NOTE_CHARS:
        return "note_too_long"
    return None


def reload_boards_showing(session: Session, changes: list[dict[str, Any]]) -> None:
    """Open boards holding a card whose fragment or consent is among these changes (the change feed's, about to
    commit) get a `reload` operation, and every screen on them loads the board again: a withdrawn, narrowed or
    sensitive card leaves, an edited one shows its new words, a note an erasure rewrote shows rewritten. In the log,
    not only in a live stream's memory: a screen that was offline, or between two streams, replays it too.

    So every transaction that changes a fragment or a consent ends by locking boards: on PostgreSQL every path takes
    consents, then fragments, then workshops (in id order), then their themes and notes. Closing a workshop locks
    its cards' fragments before it (`get_for_state_change`); a quote rewrite locks the open boards before their
    themes (`memos._rewrite_quotes`)."""
    fragment_ids = [c["entity_id"] for c in changes if c["entity"] == "fragment"]
    consent_ids = [c["entity_id"] for c in changes if c["entity"] == "consent"]
    if not fragment_ids and not consent_ids:
        return
    project_ids = {c["project_id"] for c in changes if c["entity"] in ("fragment", "consent")}
    # One statement (every sync pays for it): the open boards of these projects, then their cards among these.
    held = list(session.exec(
        select(PackItem.workshop_id).join(Workshop, col(Workshop.id) == PackItem.workshop_id)
        .join(Fragment, col(Fragment.id) == PackItem.fragment_id)
        .where(col(Workshop.project_id).in_(project_ids), col(Workshop.state).in_(OPEN_FOR_GUESTS),
               sa.or_(col(Fragment.id).in_(fragment_ids), col(Fragment.consent_id).in_(consent_ids))).distinct()))
    if not held:
        return
    # Locked and read again, as a board operation takes them (apply_ops): two writers never take the same seq.
    for w in session.exec(select(Workshop).where(col(Workshop.id).in_(held)).order_by(col(Workshop.id))
                          .with_for_update().execution_options(populate_existing=True)):
        w.board_seq += 1
        session.add(w)
        session.add(BoardOp(id=uuid.uuid4(), workshop_id=w.id, seq=w.board_seq, kind="reload", data={}))


def ops_after(session: Session, workshop_id: uuid.UUID, after: int, limit: int = 500) -> list[dict[str, Any]]:
    rows = session.exec(select(BoardOp).where(BoardOp.workshop_id == workshop_id, BoardOp.seq > after)
                        .order_by(col(BoardOp.seq)).limit(limit))
    return [{"id": str(o.id), "seq": o.seq, "kind": o.kind, "data": o.data} for o in rows]


# --- paper workshops ---------------------------------------------------------------------------------------------

PAPER_NUMBERS = re.compile(r"[\d\s,;]*")


def record_paper(session: Session, actor: Actor, w: Workshop, text: str) -> dict[str, Any]:
    """Themes typed after a paper workshop: one line per theme, "Feeling invisible: 3 17 22 40"; a line starting
    with "-" or ">" under a theme is a note on it. Replaces the board's themes; every line is checked first."""
    if w.state not in OPEN_FOR_GUESTS:
        raise Conflict("Themes are recorded while the workshop is ready or running.", code="board_not_open")
    c = card_rule.cards(session, w)
    by_number = {x.number: x for x in c.shown if x.number is not None}
    gone = {i.number for i in c.items if i.number is not None and i.number not in by_number}
    parsed: list[tuple[str, list[int], list[str]]] = []
    errors: list[str] = []
    placed_on: dict[int, int] = {}  # card number -> the line that put it in a theme
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line[0] in "->" and parsed:
            parsed[-1][2].append(line[1:].strip())
            continue
        # Split at the last colon (a name may hold one: "Transport: buses and trains: 1 2 3"), not one pattern over
        # the line: a lazy name and spaces before the colon made the match quadratic (50,000 spaces held the write
        # lock for 17 s).
        name, colon, listed = line.rpartition(":")
        name = name.strip()
        if not colon or not name or not PAPER_NUMBERS.fullmatch(listed):
            errors.append(f"line {n}: write 'Theme name: 3 17 22'")
            continue
        numbers = [int(x) for x in re.findall(r"\d+", listed)]
        unknown = [x for x in numbers if x not in by_number and x not in gone]
        if unknown:
            errors.append(f"line {n}: no card {', '.join(map(str, unknown))}")
        twice = [x for x in dict.fromkeys(numbers) if x in placed_on or numbers.count(x) > 1]
        if twice:  # a card lies in one group: the second would silently win
            errors.append(f"line {n}: card {', '.join(map(str, twice))} is listed twice (a card lies in one theme)")
        placed_on.update({x: n for x in numbers})
        parsed.append((name, numbers, []))
    if errors:
        raise Invalid("; ".join(errors), code="bad_paper_themes", extra={"lines": errors})
    typed = {note for _, _, notes in parsed for note in notes}
    for t in session.exec(select(Theme).where(Theme.workshop_id == w.id)):
        t.removed = True
        session.add(t)
    session.execute(sa.update(PackItem).where(PackItem.workshop_id == w.id).values(theme_id=None))
    # The replaced themes' notes stay, on the board (the report and the memos at closing show them), unless typed
    # again here: saving the same sheet twice makes no second copy.
    for note in session.exec(select(Note).where(Note.workshop_id == w.id, col(Note.theme_id).is_not(None),
                                                col(Note.removed).is_(False))):
        if note.text in typed:
            note.removed = True
        note.theme_id = None
        session.add(note)
    for i, (name, numbers, notes) in enumerate(parsed):
        theme = Theme(id=uuid.uuid4(), workshop_id=w.id, name=name[:200], x=40 + 320 * (i % 5), y=40 + 400 * (i // 5))
        session.add(theme)
        session.flush()
        for k, number in enumerate(numbers):
            card = by_number.get(number)
            if card is not None:
                session.execute(sa.update(PackItem).where(PackItem.id == card.id)
                                .values(theme_id=theme.id, x=theme.x + 10, y=theme.y + 40 + 24 * k))
        for note in notes:
            session.add(Note(id=uuid.uuid4(), workshop_id=w.id, theme_id=theme.id, text=note[:2000]))
    w.board_seq += 1  # boards open on it reload
    session.add(BoardOp(id=uuid.uuid4(), workshop_id=w.id, seq=w.board_seq, kind="reload", data={},
                        by_user=actor.id))
    session.add(w)
    _audit(session, actor, w, "paper", {"themes": len(parsed)})
    session.flush()
    return {"themes": len(parsed), "cards": sum(1 for p in parsed for number in p[1] if number in by_number)}


# --- the report and the API for other tools --------------------------------------------------------------------

CLIENT_AUDIENCE = {Audience.internal: None, Audience.partner: WorkshopAudience.mixed,
                   Audience.public: WorkshopAudience.public}
AUDIENCE_RANK = {WorkshopAudience.project: 0, WorkshopAudience.mixed: 1, WorkshopAudience.public: 2}  # narrower up


def report(session: Session, w: Workshop, reader: Reader | None = None) -> dict[str, Any]:
    """The question, the date, themes with their cards (only what the audience allows: the workshop's and, for an
    API client, its own too), the notes, and per theme the spread over places and prompts."""
    c = card_rule.cards(session, w)
    shown = c.shown
    # A tool for a narrower audience than the room's sees its cards only, and none of the room's words about the
    # others: no notes (they quote and name what it may not see), no theme left without a card it may see.
    narrower = False
    if isinstance(reader, ClientActor) and (extra := CLIENT_AUDIENCE[reader.client.audience]) is not None:
        narrower = AUDIENCE_RANK[extra] > AUDIENCE_RANK[w.audience]
        strict = Workshop.model_validate(w, update={"audience": extra})
        allowed = {x.id for x in card_rule.cards(session, strict).shown}
        shown = [x for x in shown if x.id in allowed]
    themes = session.exec(select(Theme).where(Theme.workshop_id == w.id, col(Theme.removed).is_(False))
                          .order_by(col(Theme.y), col(Theme.x), col(Theme.id))).all()
    notes = [] if narrower else session.exec(select(Note).where(Note.workshop_id == w.id, col(Note.removed).is_(False))
                                             .order_by(col(Note.created_at))).all()
    out_themes = []
    for t in themes:
        mine = sorted((x for x in shown if x.theme_id == t.id), key=lambda x: x.number or 0)
        if narrower and not mine:
            continue
        out_themes.append({
            "id": str(t.id), "name": t.name, "votes": t.votes, "tag_id": str(t.tag_id) if t.tag_id else None,
            "card_count": len(mine) if narrower or t.card_count is None else t.card_count,
            "cards": [x.model_dump(mode="json", include=set(card_rule.Card.model_fields)) for x in mine],
            "places": dict(Counter(x.place or "—" for x in mine)),
            "prompts": dict(Counter(x.prompt or "—" for x in mine)),
            "notes": [n.text for n in notes if n.theme_id == t.id]})
    return {"workshop": public(w, reader).model_dump(mode="json"), "question": w.question,
            "date": w.starts_at.date().isoformat(), "themes": out_themes,
            "notes": [n.text for n in notes if n.theme_id is None],
            "unthemed_cards": len([x for x in shown if x.theme_id is None])}


def get_for_reader(session: Session, reader: Reader, workshop_id: uuid.UUID) -> Workshop:
    """A workshop for a coordinator of its project, or for an API client of its project with `workshops:read`."""
    if isinstance(reader, ClientActor):
        reader.require(ClientScope.workshops_read)
        w = session.get(Workshop, workshop_id)
        if w is None or w.project_id != reader.client.project_id:
            raise NotFound("No such workshop.")
        return w
    return get_for_coordinator(session, reader, workshop_id)


def project_for_reader(session: Session, reader: Reader, project_id: uuid.UUID) -> uuid.UUID:
    if isinstance(reader, ClientActor):
        reader.require(ClientScope.workshops_read)
        if reader.client.project_id != project_id:
            raise NotFound("No such project.")
        return project_id
    return projects.require_coordinator(session, reader, project_id).id


# --- what a withdrawal reaches (read by the consent domain) -----------------------------------------------------

def cards_under_consent(session: Session, consent_id: uuid.UUID) -> tuple[int, list[str]]:
    """Numbered cards of ready or running workshops whose fragment lies under this consent and is still active,
    and the titles of those workshops: what a withdrawal now takes off boards and out of printed packs."""
    rows = session.exec(
        select(Workshop.title, sa.func.count()).select_from(PackItem)
        .join(Workshop, col(Workshop.id) == PackItem.workshop_id)
        .join(Fragment, col(Fragment.id) == PackItem.fragment_id)
        .where(Fragment.consent_id == consent_id, Fragment.status == FragmentStatus.active,
               col(PackItem.number).is_not(None), col(Workshop.state).in_(OPEN_FOR_GUESTS))
        .group_by(Workshop.id, Workshop.title).order_by(Workshop.title)).all()
    return sum(n for _, n in rows), [t for t, _ in rows]


def forbid_closed(w: Workshop) -> None:
    if w.state == WorkshopState.closed:
        raise Forbidden("This workshop is closed.", code="workshop_closed")


