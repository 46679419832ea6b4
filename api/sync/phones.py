"""What a phone learns after the fact about the records its researcher made, and what it confirms back.

A phone keeps copies of what it captured. When a consent is withdrawn (or retention erases a fragment) those
copies must go too, so a phone asks, with a cursor, which of *its own researcher's* records were erased since it
last looked: the change feed's tombstones whose owner is the caller (never anyone else's). It learns the same way
of a consent narrowed, so that it stops offering what the participant took back. Having erased them, the phone
confirms each consent; the register shows the confirmations and the withdrawal preview counts the phones that still
hold a participant's records.
"""

import uuid

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.consent.models import Consent
from api.conversations.models import Conversation
from api.db import utcnow
from api.feed.models import FOR_PHONES, Change, ChangeOp
from api.people.deps import Actor
from api.sync.models import Erased, ErasedPage, Narrowed, PhoneErasure


def erased_since(session: Session, actor: Actor, after: int, limit: int) -> ErasedPage:
    """The caller's own consents and fragments tombstoned after `after`, and their consents narrowed since, in seq
    order (a page of `limit` changes of either kind)."""
    # Reads ix_changes_owner_for_phones from `after` (its condition is written as the index's, so the planners know
    # the partial index covers the query). A consent's change row is its latest: an upsert after it was given is a
    # narrowing (its version says so), and one withdrawn since is a tombstone.
    rows = session.exec(select(Change.seq, Change.entity, Change.entity_id, Change.op, Change.at)
                        .where(col(Change.seq) > after, Change.owner_id == actor.id, sa.text(FOR_PHONES))
                        .order_by(col(Change.seq)).limit(limit + 1)).all()
    shown = rows[:limit]
    upserted = [i for _, entity, i, op, _ in shown if entity == "consent" and op == ChangeOp.upsert]
    narrowed = {c.id: c for c in session.exec(select(Consent).where(
        col(Consent.id).in_(upserted), col(Consent.version) > 1, col(Consent.withdrawn_at).is_(None)))} \
        if upserted else {}
    return ErasedPage(
        items=[Erased(entity=e, id=i, at=a) for _, e, i, op, a in shown
               if op == ChangeOp.tombstone and e in ("consent", "fragment")],
        narrowed=[Narrowed(id=i, scopes=narrowed[i].scopes, at=a) for _, _, i, _, a in shown if i in narrowed],
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
