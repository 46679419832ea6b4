import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field
from sqlmodel import col, select

from api.clients import service as clients
from api.clients.deps import CurrentReader
from api.config import get_settings
from api.db import SessionDep, open_session, thread_limiter
from api.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests, Unauthorized, responses
from api.feed.models import Change
from api.inputs import QueryBool, StrictBool, Text
from api.people import throttle
from api.people.deps import CurrentActor, bearer
from api.projects import service as projects
from api.workshops import cards as card_rule
from api.workshops import printing, service
from api.workshops.models import (
    Guest,
    Pack,
    PackAdd,
    PackAddResult,
    PackRemove,
    StateChange,
    Workshop,
    WorkshopCreate,
    WorkshopPublic,
    WorkshopUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["workshops"])


class OpIn(BaseModel):
    id: Text = Field(max_length=40, description="Chosen by the client (a UUID); a resend is answered, not reapplied.")
    kind: Text = Field(max_length=24, description="move, theme, theme_remove, note, note_remove, vote, lock.")
    data: dict[str, Any] = Field(default_factory=dict)


class OpsIn(BaseModel):
    model_config = {"extra": "forbid"}
    ops: list[OpIn] = Field(max_length=500)


class JoinIn(BaseModel):
    model_config = {"extra": "forbid"}
    code: Text = Field(min_length=4, max_length=12)
    name: Text = Field(default="", max_length=60)


class PaperIn(BaseModel):
    model_config = {"extra": "forbid"}
    text: Text = Field(max_length=50_000)


class SensitiveIn(BaseModel):
    model_config = {"extra": "forbid"}
    include: StrictBool


def get_guest(session: SessionDep,
              credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> tuple[Guest, Workshop]:
    if credentials is None or not credentials.credentials.startswith(service.JOIN_TOKEN_PREFIX):
        raise Unauthorized("Join the board with its code first.", code="unauthorized",
                           headers={"WWW-Authenticate": "Bearer"})
    return service.guest_for_token(session, credentials.credentials)


CurrentGuest = Annotated[tuple[Guest, Workshop], Depends(get_guest)]


@router.post("/projects/{project_id}/workshops", response_model=WorkshopPublic, status_code=201,
             responses=responses(NotFound, Forbidden))
def create_workshop(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                    body: WorkshopCreate) -> WorkshopPublic:
    """Plan a workshop: title, when, venue, the question, and the audience (`project`, `mixed`, `public`)."""
    project = projects.require_coordinator(session, actor, project_id)
    return service.public(service.create(session, actor, project, body))


@router.get("/projects/{project_id}/workshops", response_model=list[WorkshopPublic],
            responses=responses(NotFound, Forbidden, TooManyRequests))
def list_workshops(session: SessionDep, reader: CurrentReader, project_id: uuid.UUID) -> list[WorkshopPublic]:
    """The project's workshops, newest first (coordinators; API clients need `workshops:read`)."""
    pid = service.project_for_reader(session, reader, project_id)
    out = [service.public(w, reader) for w in service.list_for_project(session, pid)]
    clients.audit_read(reader, "workshops.list", {"count": len(out)})
    return out


@router.get("/workshops/{workshop_id}", response_model=WorkshopPublic, responses=responses(NotFound, Forbidden))
def get_workshop(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID) -> WorkshopPublic:
    """One workshop (coordinators of its project)."""
    return service.public(service.get_for_coordinator(session, actor, workshop_id))


@router.patch("/workshops/{workshop_id}", response_model=WorkshopPublic,
              responses=responses(NotFound, Forbidden, Conflict))
def update_workshop(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID,
                    body: WorkshopUpdate) -> WorkshopPublic:
    """Change the title, time, venue, question or (while a draft) the audience."""
    w = service.get_for_coordinator(session, actor, workshop_id, lock=True)
    return service.public(service.update(session, actor, w, body))


@router.post("/workshops/{workshop_id}/state", response_model=WorkshopPublic,
             responses=responses(NotFound, Forbidden, Conflict))
def change_state(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID,
                 body: StateChange) -> WorkshopPublic:
    """draft -> ready freezes the pack and numbers the cards; ready -> draft unfreezes it; ready -> running opens
    the board; running (or ready, for a paper workshop) -> closed turns the themes into tags. Each step audited."""
    w = service.get_for_state_change(session, actor, workshop_id, body.state)
    return service.public(service.change_state(session, actor, w, body.state))


@router.get("/workshops/{workshop_id}/pack", response_model=Pack, responses=responses(NotFound, Forbidden))
def get_pack(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID) -> Pack:
    """The cards as the audience may see them, what was left out and why (counts per reason), and printed cards
    whose fragment has been withdrawn since."""
    return service.pack(session, service.get_for_coordinator(session, actor, workshop_id))


@router.post("/workshops/{workshop_id}/pack", response_model=PackAddResult,
             responses=responses(NotFound, Forbidden, Conflict, Invalid))
def add_to_pack(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID, body: PackAdd) -> PackAddResult:
    """Add fragments by id, by saved search and/or by tag (draft only). Says how many the audience may not see."""
    w = service.get_for_coordinator(session, actor, workshop_id, lock=True)
    return service.add_to_pack(session, actor, w, body)


@router.post("/workshops/{workshop_id}/pack/remove", responses=responses(NotFound, Forbidden, Conflict))
def remove_from_pack(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID,
                     body: PackRemove) -> dict[str, int]:
    """Take fragments out of the pack (draft only)."""
    w = service.get_for_coordinator(session, actor, workshop_id, lock=True)
    return {"removed": service.remove_from_pack(session, actor, w, body.fragment_ids)}


@router.put("/workshops/{workshop_id}/pack/{fragment_id}/sensitive", status_code=204,
            responses=responses(NotFound, Forbidden, Conflict))
def include_sensitive(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID, fragment_id: uuid.UUID,
                      body: SensitiveIn) -> Response:
    """Include (or exclude again) one fragment flagged sensitive, knowingly; audited; never for `public`."""
    w = service.get_for_coordinator(session, actor, workshop_id, lock=True)
    service.include_sensitive(session, actor, w, fragment_id, body.include)
    return Response(status_code=204)


@router.post("/workshops/{workshop_id}/withdrawn/{number}/confirm", status_code=204,
             responses=responses(NotFound, Forbidden))
def confirm_withdrawn(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID,
                      number: Annotated[int, Path(ge=1, le=100_000)]) -> Response:
    """The withdrawn card with this number has been taken out of the printed pack."""
    w = service.get_for_coordinator(session, actor, workshop_id, lock=True)
    service.confirm_withdrawn(session, actor, w, number)
    return Response(status_code=204)


@router.post("/workshops/{workshop_id}/paper", responses=responses(NotFound, Forbidden, Conflict, Invalid))
def record_paper(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID, body: PaperIn) -> dict[str, int]:
    """Themes from a paper workshop, a line each: "Feeling invisible: 3 17 22 40"; lines starting with "-" under a
    theme are its notes. Replaces the board's themes."""
    w = service.get_for_coordinator(session, actor, workshop_id, lock=True)
    return service.record_paper(session, actor, w, body.text)


@router.get("/workshops/{workshop_id}/report", responses=responses(NotFound, Forbidden, TooManyRequests))
def get_report(session: SessionDep, reader: CurrentReader, workshop_id: uuid.UUID) -> dict[str, Any]:
    """Question, date, themes with their cards (as the audience allows), notes, and per theme the spread over
    places and prompts. Coordinators; API clients with `workshops:read`, limited by their own audience too."""
    w = service.get_for_reader(session, reader, workshop_id)
    out = service.report(session, w, reader)
    clients.audit_read(reader, "workshops.report", {"workshop_id": str(w.id),
                                                    "cards": sum(len(t["cards"]) for t in out["themes"])})
    return out


@router.get("/workshops/{workshop_id}/cards.pdf", response_class=Response,
            responses={**responses(NotFound, Forbidden), 200: {"content": {"application/pdf": {}}}})
def cards_pdf(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID,
              paper: printing.Paper = printing.Paper.a4, large: QueryBool = False) -> Response:
    """The cards to print and cut: A4 or US Letter, 8 a page (4 in large print), cut marks, the card number large,
    the workshop's short code; long text continues on a card marked as such. A withdrawn card's number is a gap."""
    w = service.get_for_coordinator(session, actor, workshop_id)
    cards = card_rule.cards(session, w).for_guests()
    service.audit_print(session, actor, w, len(cards))
    pdf = printing.cards_pdf(cards, code=w.short_code, title=f"{w.title} — cards", paper=paper, large=large)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="cards-{w.short_code}.pdf"'})


@router.get("/workshops/{workshop_id}/report.pdf", response_class=Response,
            responses={**responses(NotFound, Forbidden), 200: {"content": {"application/pdf": {}}}})
def report_pdf(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID,
               paper: printing.Paper = printing.Paper.a4) -> Response:
    """The report as a PDF: the question, the date, themes with their cards (as the audience allows), notes, and
    each theme's spread over places and prompts."""
    w = service.get_for_coordinator(session, actor, workshop_id)
    report = service.report(session, w)
    service.audit_print(session, actor, w, sum(len(t["cards"]) for t in report["themes"]))
    return Response(printing.report_pdf(report, title=w.title, paper=paper), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="report-{w.short_code}.pdf"'})


@router.get("/workshops/{workshop_id}/join", responses=responses(NotFound, Forbidden))
def join_details(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID, request: Request) -> dict[str, str]:
    """What to show the room so participants can join: the code, the link, and the link as a QR code (SVG)."""
    w = service.get_for_coordinator(session, actor, workshop_id)
    link = f"{str(request.base_url).rstrip('/')}/app/join.html#{w.short_code}"
    return {"code": w.short_code, "link": link, "qr_svg": service.join_qr_svg(link)}


# --- the board: the facilitator's ---------------------------------------------------------------------------------

@router.get("/workshops/{workshop_id}/board", responses=responses(NotFound, Forbidden))
def get_board(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID) -> dict[str, Any]:
    """The board now: cards, themes, notes, who joined, and the sequence number it is at."""
    return service.board_state(session, service.get_for_coordinator(session, actor, workshop_id), for_guest=False)


@router.post("/workshops/{workshop_id}/board/ops", responses=responses(NotFound, Forbidden, Conflict))
def post_ops(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID, body: OpsIn) -> dict[str, Any]:
    """Apply operations in order, each once (its id is the client's): one result per operation."""
    w = service.get_for_coordinator(session, actor, workshop_id, lock=True)
    return {"results": service.apply_ops(session, w, [o.model_dump() for o in body.ops], user=actor)}


@router.delete("/workshops/{workshop_id}/guests/{guest_id}", status_code=204, responses=responses(NotFound, Forbidden))
def remove_guest(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID, guest_id: uuid.UUID) -> Response:
    """Take a participant off the board: their join token stops working at once."""
    w = service.get_for_coordinator(session, actor, workshop_id, lock=True)
    service.remove_guest(session, actor, w, guest_id)
    return Response(status_code=204)


EVENTS = {200: {"content": {"text/event-stream": {}}, "description": "Server-sent events: `op`, `removed`, `end`."}}


@router.get("/workshops/{workshop_id}/board/events", response_class=StreamingResponse,
            responses={**responses(NotFound, Forbidden), **EVENTS})
def board_events(session: SessionDep, actor: CurrentActor, workshop_id: uuid.UUID,
                 after: Annotated[int, Query(ge=0)] = 0,
                 wait: Annotated[float, Query(ge=0, le=60)] = 25) -> StreamingResponse:
    """Server-sent events: every operation after `after`, then new ones as they come, and `removed` when a card
    leaves (withdrawn, erased). Ends after `wait` seconds; reconnect with the last seq."""
    w = service.get_for_coordinator(session, actor, workshop_id)
    return _stream(w.id, w.project_id, after, wait, guest_id=None)


# --- the board: participants joined by code -----------------------------------------------------------------------

@router.post("/join", status_code=201, responses=responses(NotFound, Forbidden, TooManyRequests, Conflict))
def join(session: SessionDep, request: Request, body: JoinIn) -> dict[str, Any]:
    """Join a board with its short code: no account; the token opens this board alone and dies when it closes.
    Wrong codes are counted per client address (429 after too many)."""
    w, token = service.join(session, body.code, body.name, throttle.client_address(request))
    return {"token": token, "workshop": {"title": w.title, "question": w.question}}


@router.get("/board", responses=responses(NotFound))
def guest_board(session: SessionDep, guest: CurrentGuest) -> dict[str, Any]:
    """The board a join token opens: the cards, themes and notes (who else joined is not shown)."""
    return service.board_state(session, guest[1], for_guest=True)


@router.post("/board/ops", responses=responses(NotFound, Conflict))
def guest_ops(session: SessionDep, guest: CurrentGuest, body: OpsIn) -> dict[str, Any]:
    """A participant moves cards and adds notes (not while the board is locked)."""
    # Read again once locked: the token's check read the board before the lock (a facilitator's operation may
    # have committed since: a stale seq, or a board locked meanwhile taking a guest's operation).
    w = session.exec(select(Workshop).where(Workshop.id == guest[1].id).with_for_update()
                     .execution_options(populate_existing=True)).one()
    return {"results": service.apply_ops(session, w, [o.model_dump() for o in body.ops], guest=guest[0])}


@router.get("/board/events", response_class=StreamingResponse, responses={**responses(NotFound), **EVENTS})
def guest_events(session: SessionDep, guest: CurrentGuest, after: Annotated[int, Query(ge=0)] = 0,
                 wait: Annotated[float, Query(ge=0, le=60)] = 25) -> StreamingResponse:
    """The same events as the facilitator's board gets; the stream ends when the participant is removed."""
    return _stream(guest[1].id, guest[1].project_id, after, wait, guest_id=guest[0].id)


# --- the event stream ---------------------------------------------------------------------------------------------

POLL_SECONDS = 0.15  # a move reaches other screens within this (plus a request), well under a second
# A stream looks in full (its new operations, the cards it may show, whether its guest was removed) only when its
# board or the project's consents changed, or this long since its last full look: sixty screens on one board asked
# 400 full looks a second of a 2-core server, and every other request waited behind them.
FULL_LOOK_SECONDS = 2.0
_peeked: dict[uuid.UUID, tuple[float, tuple[Any, ...]]] = {}  # workshop -> (when, what a peek saw)
# The streams' looks at the database take turns on a few threads of their own (per event loop), not the pool every
# request runs on: sixty open boards had taken all forty threads and the database connections, and phones could
# not sync. Many streams then see changes later; nothing else waits for them.
POLL_THREADS = 4


def _poll_limiter() -> anyio.CapacityLimiter:
    return thread_limiter("board looks", POLL_THREADS)


def _poll(workshop_id: uuid.UUID, project_id: uuid.UUID, after: int, change_seq: int | None,
          guest_id: uuid.UUID | None, visible: set[str] | None) -> dict[str, Any]:
    """One look at the database: new operations by seq, and whether a fragment or consent of the project changed
    (the change feed's rows) so the visible cards are worked out again. Several server processes may each run
    this; they share nothing but the database."""
    with open_session(read_only=True) as session:
        w = session.get(Workshop, workshop_id)
        if w is None or w.state not in service.OPEN_FOR_GUESTS:
            return {"end": "closed"}
        if guest_id is not None and (g := session.get(Guest, guest_id)) is not None and g.removed_at is not None:
            return {"end": "removed"}
        ops = service.ops_after(session, workshop_id, after)
        latest = session.exec(select(Change.seq).where(Change.project_id == project_id,
                                                       col(Change.entity).in_(("fragment", "consent")))
                              .order_by(col(Change.seq).desc()).limit(1)).first() or 0
        removed: list[str] = []
        now_visible = visible
        if change_seq is None or latest != change_seq or visible is None:
            now_visible = {str(c.id) for c in card_rule.cards(session, w).shown}
            if visible is not None:
                removed = sorted(visible - now_visible)
        return {"ops": ops, "change_seq": latest, "visible": now_visible, "removed": removed}


def _peek(workshop_id: uuid.UUID, project_id: uuid.UUID) -> tuple[Any, ...]:
    """What says a board changed: its state and operation count, and the project's latest consent or fragment
    change. One query pair a board every POLL_SECONDS, whatever the number of screens following it."""
    with open_session(read_only=True) as session:
        board = session.exec(select(Workshop.state, Workshop.board_seq).where(Workshop.id == workshop_id)).first()
        latest = session.exec(select(Change.seq).where(Change.project_id == project_id,
                                                       col(Change.entity).in_(("fragment", "consent")))
                              .order_by(col(Change.seq).desc()).limit(1)).first()
    return (tuple(board) if board else None, latest)


async def _peeked_state(workshop_id: uuid.UUID, project_id: uuid.UUID) -> tuple[Any, ...]:
    when, seen = _peeked.get(workshop_id, (-1.0, ()))
    if anyio.current_time() - when >= POLL_SECONDS:
        seen = await anyio.to_thread.run_sync(_peek, workshop_id, project_id, limiter=_poll_limiter())
        _peeked[workshop_id] = (anyio.current_time(), seen)
    return seen


def _stream(workshop_id: uuid.UUID, project_id: uuid.UUID, after: int, wait: float,
            guest_id: uuid.UUID | None) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        seq, change_seq, visible = after, None, None
        deadline = anyio.current_time() + min(wait, get_settings().long_poll_max_seconds)
        looked, last_look = None, -FULL_LOOK_SECONDS
        yield "retry: 1000\n\n"
        while True:
            state = await _peeked_state(workshop_id, project_id)
            if state == looked and anyio.current_time() - last_look < FULL_LOOK_SECONDS:
                if anyio.current_time() >= deadline:
                    return
                await asyncio.sleep(POLL_SECONDS)
                continue
            looked, last_look = state, anyio.current_time()
            got = await anyio.to_thread.run_sync(_poll, workshop_id, project_id, seq, change_seq, guest_id, visible,
                                                 limiter=_poll_limiter())
            if "end" in got:
                yield f"event: end\ndata: {json.dumps({'reason': got['end']})}\n\n"
                return
            for op in got["ops"]:
                seq = op["seq"]
                yield f"id: {seq}\nevent: op\ndata: {json.dumps(op)}\n\n"
            if got["removed"]:
                yield f"event: removed\ndata: {json.dumps({'card_ids': got['removed']})}\n\n"
            change_seq, visible = got["change_seq"], got["visible"]
            if anyio.current_time() >= deadline:
                return
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
