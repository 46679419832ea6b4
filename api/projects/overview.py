"""The coordinator's overview of one project: weekly capture per place, prompt and tag, totals, who is
capturing, which phones have gone quiet, and what retention takes next.

A read-only report across domains, so it reads their tables here rather than adding one aggregate to each.
The weekly counts and totals are read from overview_counts, which database triggers keep in the writing
transaction (sync, edits, review, withdrawal, purge, tagging, tag merge and deletion all go through them);
`recount` computes the same from the fragments, for the tests. Python only folds the rows into weeks.
Erased fragments (withdrawn, expired) count nowhere: what was withdrawn is gone.
"""

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.consent.models import Consent
from api.db import utcnow
from api.fragments.models import Fragment, FragmentStatus
from api.people.models import AuthToken, TokenKind, User
from api.projects.models import (
    Expiring,
    Membership,
    OverviewCount,
    OverviewPublic,
    OverviewTotals,
    Place,
    Project,
    Prompt,
    ResearcherActivity,
    Role,
    StaleDevice,
    WeeklySeries,
)
from api.tags.models import FragmentTag, Tag

STALE_AFTER = timedelta(days=7)
EXPIRING_DAYS = 30


def week_start(session: Session, column: Any) -> Any:
    """The Monday (UTC) of a timestamp's week, as the database computes it. Literals, not bound parameters:
    PostgreSQL accepts `GROUP BY expr` only when expr matches the selected one exactly."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite keeps UTC times as microseconds since 1970 (api/db.py); 'weekday 0' goes on to Sunday, six days
        # back is that week's Monday.
        return sa.func.date(sa.type_coerce(column, sa.Integer) // 1_000_000, sa.literal_column("'unixepoch'"),
                            sa.literal_column("'weekday 0'"), sa.literal_column("'-6 days'"))
    return sa.cast(sa.func.date_trunc(sa.literal_column("'week'"),
                                      sa.func.timezone(sa.literal_column("'UTC'"), column)), sa.Date)


def _mondays(weeks: int, now: datetime) -> list[date]:
    this_monday = now.date() - timedelta(days=now.weekday())
    return [this_monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def _series(rows: list[Any], names: list[tuple[uuid.UUID, str]], index: dict[str, int]) -> list[WeeklySeries]:
    counts: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0] * len(index))
    for key, week, n in rows:
        slot = index.get(str(week)[:10])
        if key is not None and slot is not None:
            counts[key][slot] += n
    return [WeeklySeries(id=i, name=name, counts=counts[i]) for i, name in names]


def overview(session: Session, project: Project, weeks: int = 12, now: datetime | None = None) -> OverviewPublic:
    now = now or utcnow()
    mondays = _mondays(weeks, now)
    index = {m.isoformat(): i for i, m in enumerate(mondays)}
    # Weekly counts come from overview_counts (kept by triggers as fragments and their tags change; read through
    # its primary key): a few hundred rows, whatever the number of fragments.
    counted = session.exec(
        select(OverviewCount.dimension, OverviewCount.key, OverviewCount.week, OverviewCount.n)
        .where(OverviewCount.project_id == project.id, col(OverviewCount.week) >= mondays[0],
               OverviewCount.n != 0)).all()

    def rows(dimension: str) -> list[Any]:
        return [(k, w, n) for d, k, w, n in counted if d == dimension]

    places = session.exec(select(Place.id, Place.name).where(Place.project_id == project.id)
                          .order_by(Place.name)).all()
    prompts = session.exec(select(Prompt.id, Prompt.text).where(Prompt.project_id == project.id)
                           .order_by(Prompt.position, Prompt.created_at)).all()
    tags = session.exec(select(Tag.id, Tag.name).where(Tag.project_id == project.id).order_by(Tag.name)).all()

    return OverviewPublic(
        weeks=mondays,
        per_place=_series(rows("place"), list(places), index),
        per_prompt=_series(rows("prompt"), list(prompts), index),
        per_tag=_series(rows("tag"), list(tags), index),
        totals=_totals(session, project),
        researchers=_researchers(session, project),
        stale_devices=_stale_devices(session, project, now),
        expiring=_expiring(session, project, now),
    )


def _totals(session: Session, project: Project) -> OverviewTotals:
    counts = dict(session.exec(
        select(OverviewCount.dimension, sa.func.sum(OverviewCount.n))
        .where(OverviewCount.project_id == project.id,
               col(OverviewCount.dimension).in_(["all", "sensitive", "unreviewed"]))
        .group_by(OverviewCount.dimension)).all())
    withdrawn = session.exec(select(sa.func.count()).select_from(Consent).where(
        Consent.project_id == project.id, col(Consent.withdrawn_at).is_not(None))).one()
    researchers = session.exec(select(sa.func.count()).select_from(Membership).where(
        Membership.project_id == project.id, Membership.role == Role.researcher)).one()
    return OverviewTotals(fragments=int(counts.get("all") or 0), sensitive=int(counts.get("sensitive") or 0),
                          unreviewed=int(counts.get("unreviewed") or 0), withdrawn_consents=withdrawn,
                          researchers=researchers)


def recount(session: Session, project: Project) -> dict[tuple[str, uuid.UUID, str], int]:
    """overview_counts recomputed from the fragments themselves (what the triggers must always agree with)."""
    active = (Fragment.project_id == project.id, Fragment.status == FragmentStatus.active)
    week = week_start(session, Fragment.captured_at).label("week")
    out: dict[tuple[str, uuid.UUID, str], int] = defaultdict(int)
    for pl, pr, sens, unrev, who, w, n in session.exec(
            select(Fragment.place_id, Fragment.prompt_id, Fragment.sensitive,
                   col(Fragment.reviewed_at).is_(None), Fragment.researcher_id, week, sa.func.count())
            .where(*active).group_by(Fragment.place_id, Fragment.prompt_id, Fragment.sensitive,
                                     col(Fragment.reviewed_at).is_(None), Fragment.researcher_id, week)):
        w = str(w)[:10]
        out[("all", project.id, w)] += n
        out[("researcher", who, w)] += n
        if pl is not None:
            out[("place", pl, w)] += n
        if pr is not None:
            out[("prompt", pr, w)] += n
        if sens:
            out[("sensitive", project.id, w)] += n
        if unrev:
            out[("unreviewed", project.id, w)] += n
    for tag, w, n in session.exec(
            select(FragmentTag.tag_id, week, sa.func.count())
            .join(Fragment, col(Fragment.id) == FragmentTag.fragment_id)
            .where(*active).group_by(FragmentTag.tag_id, week)):
        out[("tag", tag, str(w)[:10])] += n
    return dict(out)


def stored(session: Session, project: Project) -> dict[tuple[str, uuid.UUID, str], int]:
    return {(d, k, str(w)[:10]): n for d, k, w, n in session.exec(
        select(OverviewCount.dimension, OverviewCount.key, OverviewCount.week, OverviewCount.n)
        .where(OverviewCount.project_id == project.id, OverviewCount.n != 0))}


def _researchers(session: Session, project: Project) -> list[ResearcherActivity]:
    """The project's researchers, and anyone else who captured in it (a coordinator may)."""
    counts = dict(session.exec(
        select(OverviewCount.key, sa.func.sum(OverviewCount.n))
        .where(OverviewCount.project_id == project.id, OverviewCount.dimension == "researcher")
        .group_by(OverviewCount.key)).all())
    synced = dict(session.exec(
        select(AuthToken.user_id, sa.func.max(AuthToken.last_sync_at))
        .where(AuthToken.project_id == project.id, AuthToken.kind == TokenKind.device)
        .group_by(AuthToken.user_id)).all())
    members = select(Membership.user_id).where(Membership.project_id == project.id,
                                               Membership.role == Role.researcher)
    # Erased fragments keep their capture time (not content): a withdrawal does not make the researcher look
    # idle. Each is the end of a range of ix_fragments_researcher_project_captured.
    last = (select(sa.func.max(Fragment.captured_at))
            .where(Fragment.researcher_id == User.id, Fragment.project_id == project.id)
            .correlate(User).scalar_subquery())
    rows = session.exec(select(User, last).where(
        sa.or_(col(User.id).in_(members), col(User.id).in_(list(counts))))
        .order_by(User.display_name, User.email)).all()
    return [ResearcherActivity(user_id=u.id, display_name=u.display_name, email=u.email,
                               fragments=int(counts.get(u.id) or 0), last_captured_at=_utc(at),
                               last_sync_at=_utc(synced.get(u.id)))
            for u, at in rows]


def _stale_devices(session: Session, project: Project, now: datetime) -> list[StaleDevice]:
    """Enrolled phones still allowed to sync that have not for a week, or never: a researcher may hold
    captures that exist nowhere else."""
    rows = session.exec(
        select(AuthToken, User.display_name).join(User, col(User.id) == AuthToken.user_id)
        .where(AuthToken.project_id == project.id, AuthToken.kind == TokenKind.device,
               col(AuthToken.revoked_at).is_(None), AuthToken.expires_at > now,
               sa.or_(col(AuthToken.last_sync_at).is_(None), col(AuthToken.last_sync_at) <= now - STALE_AFTER))
        # Never synced first, then the longest silent.
        .order_by(col(AuthToken.last_sync_at).is_not(None), col(AuthToken.last_sync_at), col(AuthToken.created_at))
    ).all()
    return [StaleDevice(id=t.id, user_id=t.user_id, display_name=name, device_label=t.device_label,
                        last_sync_at=t.last_sync_at) for t, name in rows]


def _active_before(session: Session, project: Project, cutoff: datetime) -> int:
    """How many active fragments were captured before `cutoff`, exactly: the rollup's weeks that end before it,
    and a count of the fragments in the cut-off's own week up to it (one week's range of
    ix_fragments_project_captured, where counting every row before the cut-off read tens of thousands at 1M)."""
    monday = cutoff.astimezone(UTC).date() - timedelta(days=cutoff.astimezone(UTC).weekday())
    weeks = session.exec(select(sa.func.coalesce(sa.func.sum(OverviewCount.n), 0)).where(
        OverviewCount.project_id == project.id, OverviewCount.dimension == "all",
        OverviewCount.key == project.id, col(OverviewCount.week) < monday)).one()
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    part = session.exec(select(sa.func.count()).select_from(Fragment).where(
        Fragment.project_id == project.id, Fragment.status == FragmentStatus.active,
        Fragment.captured_at >= start, Fragment.captured_at < cutoff)).one()
    return int(weeks) + part


def _expiring(session: Session, project: Project, now: datetime) -> Expiring:
    """What `hearken purge` will erase within the next 30 days: the same cut-off as retention's own count
    (retention.expiring, which counts the fragments themselves)."""
    if not project.retention_days:
        return Expiring(days=EXPIRING_DAYS, fragments=0, signatures=0, first_at=None)
    keep = timedelta(days=project.retention_days)
    cutoff = now + timedelta(days=EXPIRING_DAYS) - keep
    fragments = _active_before(session, project, cutoff)
    signatures, first_signed = session.exec(select(sa.func.count(), sa.func.min(Consent.given_at)).where(
        Consent.project_id == project.id, col(Consent.signature).is_not(None), Consent.given_at < cutoff)).one()
    first_captured = session.exec(select(sa.func.min(Fragment.captured_at)).where(
        Fragment.project_id == project.id, Fragment.status == FragmentStatus.active,
        Fragment.captured_at < cutoff)).one()
    firsts = [_utc(t) for t in (first_captured, first_signed) if t is not None]
    return Expiring(days=EXPIRING_DAYS, fragments=fragments, signatures=signatures,
                    first_at=min(firsts) + keep if firsts else None)


def _utc(value: datetime | None) -> datetime | None:
    """Aggregates (max, min) come back without the column's type on SQLite: naive UTC text made a datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
