"""Retention: what is past its project's retention period is erased exactly as a withdrawal erases it
(content gone, tombstones in the change feed, audio bytes deleted, an audit entry without content).

`hearken purge` runs it; it is safe on a schedule: what was erased stays erased and is not counted again.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.audit import service as audit
from api.consent.models import Consent
from api.conversations.models import Conversation
from api.db import utcnow
from api.feed import service as feed
from api.fragments import compaction
from api.fragments import service as fragments
from api.fragments.models import ERASED_HASH, Fragment, FragmentStatus
from api.projects.models import Project

CHUNK = 1000


@dataclass
class PurgeReport:
    project_id: uuid.UUID
    project_name: str
    cutoff: datetime
    fragments_erased: int
    signatures_erased: int
    notes_erased: int = 0


def _cutoff(project: Project, now: datetime) -> datetime | None:
    return now - timedelta(days=project.retention_days) if project.retention_days else None


def purge_project(session: Session, project: Project, now: datetime | None = None,
                  dry_run: bool = False) -> PurgeReport:
    """Erase one chunk at most of what is past retention (callers loop, committing between chunks)."""
    now = now or utcnow()
    cutoff = _cutoff(project, now)
    report = PurgeReport(project.id, project.name, cutoff or now, 0, 0)
    if cutoff is None:
        return report
    past = select(Fragment.id).where(Fragment.project_id == project.id, Fragment.status == FragmentStatus.active,
                                     Fragment.captured_at < cutoff)
    signed_past = select(Consent).where(Consent.project_id == project.id, col(Consent.signature).is_not(None),
                                        Consent.given_at < cutoff)
    if dry_run:
        report.fragments_erased = session.exec(select(sa.func.count()).select_from(past.subquery())).one()
        report.signatures_erased = session.exec(select(sa.func.count()).select_from(signed_past.subquery())).one()
        report.notes_erased = session.exec(select(sa.func.count()).select_from(Conversation).where(
            Conversation.project_id == project.id, col(Conversation.note).is_not(None),
            Conversation.started_at < cutoff)).one()
        return report
    # The consents first, FOR UPDATE, then their fragments: the order a withdrawal and an upload's creation take
    # them (api/media/service.py), or an upload holding a consent FOR SHARE and waiting for its fragment would
    # deadlock with a purge holding the fragment and waiting to clear the consent's signature (PostgreSQL).
    signed = list(session.exec(signed_past.limit(CHUNK).with_for_update()))
    ids = list(session.exec(past.limit(CHUNK)))
    report.fragments_erased = fragments.erase(session, None, ids, FragmentStatus.expired)
    for consent in signed:
        consent.signature = None  # the participant's mark is personal data too: it goes with the rest
        session.add(consent)
    report.signatures_erased = len(signed)
    noted = list(session.exec(select(Conversation).where(Conversation.project_id == project.id,
                                                         col(Conversation.note).is_not(None),
                                                         Conversation.started_at < cutoff).limit(CHUNK)))
    for conversation in noted:
        conversation.note = None  # the researcher's words about the people in it are past retention too
        conversation.sync_hash = ERASED_HASH
        conversation.version += 1
        conversation.updated_at = now
        session.add(conversation)
        feed.record(session, project_id=project.id, entity="conversation", entity_id=conversation.id,
                    owner_id=conversation.researcher_id)
    report.notes_erased = len(noted)
    if report.fragments_erased or report.signatures_erased or report.notes_erased:
        compaction.mark_erased(session)
        audit.record(session, actor_id=None, action="retention.purge", entity="project", entity_id=project.id,
                     project_id=project.id, detail={"fragments_erased": report.fragments_erased,
                                                    "signatures_erased": report.signatures_erased,
                                                    "notes_erased": report.notes_erased,
                                                    "cutoff": cutoff.isoformat()})
    return report


def purge_all(dry_run: bool = False) -> list[tuple[Project, PurgeReport]]:
    """Every project's purge, a chunk per transaction (what `hearken purge` runs; compaction is the caller's)."""
    from api.db import open_session

    with open_session() as session:
        projects = list(session.exec(select(Project).where(col(Project.retention_days).is_not(None))))
    out = []
    for project in projects:
        total = PurgeReport(project.id, project.name, utcnow(), 0, 0)
        while True:
            with open_session() as session:
                report = purge_project(session, session.merge(project), dry_run=dry_run)
                session.commit()
            total.cutoff = report.cutoff
            total.fragments_erased += report.fragments_erased
            total.signatures_erased += report.signatures_erased
            total.notes_erased += report.notes_erased
            if dry_run or report.fragments_erased + report.signatures_erased + report.notes_erased == 0:
                break
        out.append((project, total))
    return out


def expiring(session: Session, project: Project, within_days: int = 30, now: datetime | None = None) -> int:
    """How many fragments will pass retention in the next `within_days` days (for the overview)."""
    now = now or utcnow()
    cutoff = _cutoff(project, now + timedelta(days=within_days))
    if cutoff is None:
        return 0
    return session.exec(select(sa.func.count()).select_from(Fragment).where(
        Fragment.project_id == project.id, Fragment.status == FragmentStatus.active,
        Fragment.captured_at < cutoff)).one()
