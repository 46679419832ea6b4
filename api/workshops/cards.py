"""The one rule for what a workshop may show of a fragment. Every view goes through `cards()`: the pack page,
the board (coordinator's and participants'), the printed PDF, the report and the API.

A fragment becomes a card only while it is active, its consent is live, its consent's scopes fit the audience
(`mixed` needs `share`, `public` needs `publish`; a quote needs `quote` whatever the audience), and, if flagged
sensitive, a coordinator included it by hand (never for `public`). A card carries the words, the kind, the
prompt's wording, the place, the month and the language tag: nothing that tells who said it, who heard it, or
when exactly. Nothing here is stored: a withdrawal tomorrow changes what every view shows tomorrow.
"""

import uuid
from collections import Counter
from dataclasses import dataclass

from sqlmodel import Session, col, select

from api.consent.models import Consent
from api.fragments.models import Fragment, FragmentKind, FragmentStatus
from api.projects.models import Place, Prompt
from api.workshops.models import Card, CoordinatorCard, LeftOut, PackItem, Workshop, WorkshopAudience

# Why a fragment in the pack is not shown, in the words the pack page counts them by.
ERASED = "withdrawn_or_erased"
NO_SHARE = "consent_lacks_share"
NO_PUBLISH = "consent_lacks_publish"
NO_QUOTE = "consent_lacks_quote"
SENSITIVE = "sensitive_not_included"
SENSITIVE_PUBLIC = "sensitive_never_public"


def refusal(fragment: Fragment, consent: Consent | None, audience: WorkshopAudience,
            sensitive_included: bool) -> str | None:
    """Why this fragment may not be a card for this audience, or None when it may."""
    if fragment.status != FragmentStatus.active or fragment.text is None or consent is None \
            or consent.withdrawn_at is not None:
        return ERASED
    if fragment.kind == FragmentKind.quote and not consent.scope_quote:
        return NO_QUOTE
    if audience == WorkshopAudience.mixed and not consent.scope_share:
        return NO_SHARE
    if audience == WorkshopAudience.public and not consent.scope_publish:
        return NO_PUBLISH
    if fragment.sensitive:
        if audience == WorkshopAudience.public:
            return SENSITIVE_PUBLIC
        if not sensitive_included:
            return SENSITIVE
    return None


@dataclass
class Cards:
    shown: list[CoordinatorCard]
    left_out: list[LeftOut]
    items: list[PackItem]  # every pack item, shown or not, in pack order
    fragments: dict[uuid.UUID, Fragment]

    def counts(self) -> dict[str, int]:
        return dict(Counter(x.reason for x in self.left_out))

    def for_guests(self) -> list[Card]:
        """What a participant's phone or a printed page may carry: the card alone."""
        return [Card.model_validate(c.model_dump(include=set(Card.model_fields))) for c in self.shown]


def cards(session: Session, workshop: Workshop) -> Cards:
    """The workshop's cards as its audience may see them now, and what was left out and why."""
    items = list(session.exec(select(PackItem).where(PackItem.workshop_id == workshop.id)
                              .order_by(col(PackItem.position), col(PackItem.id))))
    ids = [i.fragment_id for i in items]
    frags = {f.id: f for f in session.exec(select(Fragment).where(col(Fragment.id).in_(ids)))} if ids else {}
    consent_ids = {f.consent_id for f in frags.values()}
    consents = {c.id: c for c in session.exec(select(Consent).where(col(Consent.id).in_(consent_ids)))} \
        if consent_ids else {}
    places = dict(session.exec(select(Place.id, Place.name).where(Place.project_id == workshop.project_id)).all())
    prompts = dict(session.exec(select(Prompt.id, Prompt.text).where(Prompt.project_id == workshop.project_id)).all())
    shown: list[CoordinatorCard] = []
    left: list[LeftOut] = []
    for item in items:
        f = frags.get(item.fragment_id)
        reason = ERASED if f is None else refusal(f, consents.get(f.consent_id), workshop.audience,
                                                   item.sensitive_included_by is not None)
        if reason is not None or f is None:
            left.append(LeftOut(fragment_id=item.fragment_id, reason=reason or ERASED,
                                text=f.text if reason == SENSITIVE and f is not None else None))
            continue
        assert f.text is not None and f.kind is not None
        shown.append(CoordinatorCard(
            id=item.id, number=item.number, text=f.text, kind=str(f.kind), language=f.language or "und",
            prompt=prompts.get(f.prompt_id) if f.prompt_id else None,
            place=places.get(f.place_id) if f.place_id else None, month=f.captured_at.strftime("%Y-%m"),
            fragment_id=f.id, sensitive=f.sensitive, x=item.x, y=item.y, theme_id=item.theme_id))
    return Cards(shown=shown, left_out=left, items=items, fragments=frags)
