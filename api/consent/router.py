import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from sqlmodel import select

from api.audit import service as audit
from api.consent import cards, service
from api.consent import subject_access as subject_access_service
from api.consent.models import (
    ConsentFormCreate,
    ConsentFormPublic,
    ConsentFormUpdate,
    ConsentListItem,
    ConsentPublic,
    ConsentState,
    ConsentUpdate,
    Participant,
    PhoneErasurePublic,
    Scope,
    SignatureImage,
    SubjectAccess,
    WithdrawalPreview,
    WithdrawRequest,
    WithdrawResult,
)
from api.conversations.models import Conversation
from api.db import SessionDep, commit_apart
from api.errors import Conflict, Forbidden, NotFound, PreconditionFailed, responses
from api.inputs import Instant
from api.people.deps import CurrentActor
from api.projects import service as projects
from api.sync import phones
from api.versioning import etag, if_match_version

router = APIRouter(prefix="/api/v1", tags=["consent"])


@router.post("/projects/{project_id}/consent-forms", response_model=ConsentFormPublic, status_code=201,
             responses=responses(NotFound, Forbidden))
def create_consent_form(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                        body: ConsentFormCreate) -> ConsentFormPublic:
    """Write a new version of the project's consent form; it becomes the current one phones pick up."""
    project = projects.require_coordinator(session, actor, project_id)
    return service.form_public(session, service.create_form(session, actor, project, body))


@router.get("/projects/{project_id}/consent-forms", response_model=list[ConsentFormPublic],
            responses=responses(NotFound))
def list_consent_forms(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID) -> list[ConsentFormPublic]:
    """Every version of the project's consent form, newest (current) first."""
    project, _ = projects.get_project(session, actor, project_id)
    forms = service.list_forms(session, project)
    return [service.form_public(session, f, forms[0]) for f in forms]


@router.patch("/consent-forms/{form_id}", response_model=ConsentFormPublic,
              responses=responses(NotFound, Forbidden, Conflict))
def update_consent_form(session: SessionDep, actor: CurrentActor, form_id: uuid.UUID,
                        body: ConsentFormUpdate) -> ConsentFormPublic:
    """Correct a consent form version that no consent refers to yet; a used one answers 409."""
    form = service.get_form(session, actor, form_id)
    projects.require_coordinator(session, actor, form.project_id)
    return service.form_public(session, service.update_form(session, actor, form, body))


# Control characters never occur in a label, and PostgreSQL refuses NUL in any string: refuse them up front.
PRINTABLE = r"^[^\x00-\x1f]*$"
LABEL = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"  # as a phone may send it (api/sync)
TOTAL_COUNT = {200: {"headers": {"X-Total-Count": {"description": "How many consents match in all.",
                                                   "schema": {"type": "integer"}}}}}


@router.get("/consents", response_model=list[ConsentListItem],
            responses={**responses(NotFound), **TOTAL_COUNT})
def list_consents(session: SessionDep, actor: CurrentActor, response: Response, project_id: uuid.UUID,
                  conversation_id: uuid.UUID | None = None,
                  participant_label: Annotated[str | None, Query(
                      max_length=40, pattern=PRINTABLE,
                      description="Part of a label, any case (`p-4k` finds `P-4KQ7`).")] = None,
                  place: Annotated[uuid.UUID | None, Query(description="A place id (of the conversation).")] = None,
                  given_after: Annotated[Instant | None, Query(description="Given at or after this.")] = None,
                  given_before: Annotated[Instant | None, Query(description="Given before this.")] = None,
                  scope: Annotated[Scope | None, Query(description="Consents that include this scope.")] = None,
                  state: ConsentState | None = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50,
                  offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[ConsentListItem]:
    """The project's consent register, newest given first, with how many fragments each still holds; the
    header `X-Total-Count` says how many match in all. A researcher sees only the consents they recorded."""
    filters = {"conversation_id": conversation_id, "participant_label": participant_label, "place": place,
               "given_after": given_after, "given_before": given_before, "scope": scope, "state": state}
    items, total = service.list_consents(session, actor, project_id, filters, limit, offset)
    response.headers["X-Total-Count"] = str(total)
    return items


@router.get("/consents/{consent_id}", response_model=ConsentPublic, responses=responses(NotFound))
def get_consent(session: SessionDep, actor: CurrentActor, consent_id: uuid.UUID, response: Response) -> ConsentPublic:
    """One consent: what the participant agreed to, how, and whether it was withdrawn."""
    consent, participant = service.get_consent(session, actor, consent_id)
    response.headers["ETag"] = etag(consent.version)
    return service.consent_public(consent, participant.label)


@router.patch("/consents/{consent_id}", response_model=ConsentPublic,
              responses=responses(NotFound, Forbidden, Conflict, PreconditionFailed))
def narrow_consent(session: SessionDep, actor: CurrentActor, consent_id: uuid.UUID, body: ConsentUpdate,
                   version: Annotated[int | None, Depends(if_match_version)]) -> ConsentPublic:
    """Narrow a consent's scopes (never widen). Quotes lose their text when `quote` is taken away."""
    consent, participant = service.get_consent(session, actor, consent_id)
    if version is None:
        raise PreconditionFailed("Send the version you edited in If-Match.", code="version_required")
    return service.consent_public(service.narrow_scopes(session, actor, consent, body, version), participant.label)


@router.get("/consents/{consent_id}/withdrawal-preview", response_model=WithdrawalPreview,
            responses=responses(NotFound, Forbidden))
def withdrawal_preview(session: SessionDep, actor: CurrentActor, consent_id: uuid.UUID) -> WithdrawalPreview:
    """Exactly what withdrawing this consent would erase now: fragments, audio clips, the signature, and how
    many of those fragments carry tags. `workshop_cards` counts the numbered cards of ready or running workshops
    it would take off boards, and `workshops` names those workshops. Coordinators."""
    consent, participant = service.get_consent(session, actor, consent_id)
    preview = service.withdrawal_preview(session, actor, consent, participant.label)
    preview.phones_holding = phones.phones_holding(session, consent)
    preview.phone_erasures = [PhoneErasurePublic(device_id=e.device_id, confirmed_at=e.confirmed_at)
                              for e in phones.confirmations(session, consent.id)]
    return preview


@router.get("/projects/{project_id}/subject-access", response_model=SubjectAccess,
            responses={**responses(NotFound, Forbidden),
                       200: {"headers": {"Content-Disposition": {
                           "description": 'attachment; filename="hearken-<label>-<date>.json"',
                           "schema": {"type": "string"}}}}})
def subject_access(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                   label: Annotated[str, Query(min_length=1, max_length=40, pattern=LABEL,
                                               description="The participant's label, exactly.")]) -> JSONResponse:
    """Everything the project holds under a participant's label, as a JSON file to hand them: participants,
    consents (with the form they agreed to), fragments (erased ones as erased, without content). Audited.
    Coordinators."""
    project = projects.require_coordinator(session, actor, project_id)
    answer = subject_access_service.gather(session, project, label)
    commit_apart(subject_access_service.audit_entry(actor, project, answer))
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", label)
    name = f"hearken-{safe}-{answer.generated_at.date().isoformat()}.json"
    return JSONResponse(answer.model_dump(mode="json"),
                        # A person's data: no shared cache or browser cache keeps a copy.
                        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.get("/projects/{project_id}/receipt-cards", response_class=Response,
            responses={**responses(NotFound, Forbidden), 200: {"content": {"application/pdf": {}}}})
def receipt_cards(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                  count: Annotated[int, Query(ge=1, le=400, description="How many cards (8 to a page).")] = 24,
                  ) -> Response:
    """A PDF sheet of receipt cards to print: each a new participant label with its QR code, the project's name
    and how to withdraw (the project's withdrawal contact). Type or scan a card's label into the consent form.
    Coordinators."""
    project = projects.require_coordinator(session, actor, project_id)
    taken = set(session.exec(select(Participant.label)
                             .join(Conversation, Conversation.id == Participant.conversation_id)  # type: ignore[arg-type]
                             .where(Conversation.project_id == project.id)).all())
    pdf = cards.sheet(project.name, project.withdrawal_contact, cards.new_labels(count, taken))
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="receipt-cards.pdf"', "Cache-Control": "no-store"})


@router.post("/consents/{consent_id}/withdraw", response_model=WithdrawResult,
             responses=responses(NotFound, Forbidden, Conflict))
def withdraw_consent(session: SessionDep, actor: CurrentActor, consent_id: uuid.UUID,
                     body: WithdrawRequest | None = None) -> WithdrawResult:
    """Withdraw a participant's consent, at once and for good: the text of every fragment under it is erased
    (a tombstone stays so other tools learn to delete their copies). Answers how many fragments were erased."""
    consent, _ = service.get_consent(session, actor, consent_id)
    return service.withdraw(session, actor, consent, body.reason if body else None)


@router.get("/consents/{consent_id}/signature", response_model=SignatureImage,
            responses=responses(NotFound, Forbidden))
def consent_signature(session: SessionDep, actor: CurrentActor, consent_id: uuid.UUID) -> SignatureImage:
    """The signature a participant gave on the phone (`signed` consents), for the consent register. Coordinators
    only; each look is audited. 404 `no_signature` when none is held (never given, or erased by withdrawal)."""
    consent, _ = service.get_consent(session, actor, consent_id)
    if not projects.is_manager(projects.role_in(session, actor, consent.project_id)):
        raise Forbidden("Only coordinators see signatures.")
    if consent.signature is None:
        raise NotFound("No signature is held for this consent.", code="no_signature")
    audit.record(session, actor_id=actor.id, action="consent.signature_viewed", entity="consent",
                 entity_id=consent.id, project_id=consent.project_id)
    return SignatureImage(signature=consent.signature)
