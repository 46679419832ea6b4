"""What a phone learns after the fact about the records its researcher made, and what it confirms back.

A phone keeps copies of what it captured. When a consent is withdrawn (or retention erases a fragment) those
copies must go too, so a phone asks, with a cursor, which of *its own researcher's* records were erased since it
last looked: the change feed's tombstones whose owner is the caller (never anyone else's). Having erased them,
the phone confirms each consent; the register shows the confirmations and the withdrawal preview counts the
phones that still hold a participant's records.
"""

import uuid

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.consent.models import Consent
from api.conversations.models import Conversation
from api.db import utcnow
from api.feed.models import Change, ChangeOp
from api.people.deps import Actor
from api.sync.models import Erased, ErasedPage, PhoneErasure


def erased_since(session: Session, actor: Actor, after: int, limit: int) -> ErasedPage:
    """The caller's own consents and fragments tombstoned after `after`, in seq order."""
    # Reads ix_changes_owner_tombstones from `after` (the op is written as a literal so the planners know the
    # partial index covers the query).
    rows = session.exec(select(Change.seq, Change.entity, Change.entity_id, Change.at)
                        .where(col(Change.seq) > after, Change.owner_id == actor.id,
                               sa.text(f"changes.op = '{ChangeOp.tombstone.value}'"),
                               col(Change.entity).in_(("consent", "fragment")))
                        .order_by(col(Change.seq)).limit(limit + 1)).all()
    shown = rows[:limit]
    return ErasedPage(items=[Erased(entity=e, id=i, at=a) for _, e, i, a in shown],
                      last_seq=shown[-1][0] if shown else after, has_more=len(rows) > limit)


def confirm(session: Session, actor: Actor, device_id: str, consent_ids: list[uuid.UUID]) -> int:
    """Record that this phone erased its copies of these (withdrawn, own) consents. Others' ids are ignored."""
    own = set(session.exec(select(Consent.id).where(col(Consent.id).in_(consent_ids),
                                                    Consent.recorded_by == actor.id,
                                                    col(Consent.withdrawn_at).is_not(None))).all())
    had = set(session.exec(select(PhoneErasure.consent_id).where(col(PhoneErasure.consent_id).in_(own),
                                                                 PhoneErasure.device_id == device_id)).all())
    for cid in own - had:
        session.add(PhoneErasure(consent_id=cid, device_id=device_id, researcher_id=actor.id, confirmed_at=utcnow()))
    session.flush()
    return len(own)


def phones_holding(session: Session, consent: Consent) -> int:
    """Phones that sent this consent's conversation and have not confirmed erasing it."""
    device = session.exec(select(Conversation.device_id).where(Conversation.id == consent.conversation_id)).first()
    if not device:
        return 0
    confirmed = session.exec(select(sa.func.count()).select_from(PhoneErasure).where(
        PhoneErasure.consent_id == consent.id, PhoneErasure.device_id == device)).one()
    return 0 if confirmed else 1


def confirmations(session: Session, consent_id: uuid.UUID) -> list[PhoneErasure]:
    return list(session.exec(select(PhoneErasure).where(PhoneErasure.consent_id == consent_id)
                             .order_by(col(PhoneErasure.confirmed_at))).all())
