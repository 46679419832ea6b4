"""Users, logins, sessions and enrolled phones."""

import io
import uuid
from datetime import timedelta

import segno
import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.audit import service as audit
from api.config import get_settings
from api.db import open_session, utcnow
from api.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests, Unauthorized
from api.people import throttle
from api.people.deps import Actor
from api.people.models import (
    AuthToken,
    EnrolmentCode,
    TokenKind,
    User,
    UserCreate,
    UserUpdate,
    normalise_email,
)
from api.people.security import (
    digest,
    hash_password,
    new_enrolment_code,
    new_token,
    normalise_enrolment_code,
    verify_password,
)
from api.projects import service as projects
from api.projects.models import Membership, Role

BAD_LOGIN = "That email and password do not match an account."


def _refuse_device(actor: Actor, what: str) -> None:
    if actor.is_device:
        raise Forbidden(f"A phone's device token cannot {what}; log in with your password.",
                        code="device_token_not_allowed")


def create_user(session: Session, actor: Actor | None, data: UserCreate) -> User:
    if actor is not None:
        _refuse_device(actor, "create users")
    if actor is not None and not actor.is_admin:
        coordinates = session.exec(select(Membership).where(
            Membership.user_id == actor.id, Membership.role == Role.coordinator)).first()
        if coordinates is None:
            raise Forbidden("Only admins and coordinators can create users.")
        if data.is_admin:
            raise Forbidden("Only an admin can create another admin.")
    if session.exec(select(User).where(User.email == data.email)).first():
        raise Conflict("A user with this email already exists.", code="email_taken")
    user = User(email=data.email, display_name=data.display_name, is_admin=data.is_admin,
                password_hash=hash_password(data.password), created_by=actor.id if actor else None)
    session.add(user)
    session.flush()
    audit.record(session, actor_id=actor.id if actor else None, action="user.create", entity="user",
                 entity_id=user.id, detail={"is_admin": user.is_admin})
    return user


def visible_users(session: Session, actor: Actor) -> list[User]:
    if actor.is_admin:
        return list(session.exec(select(User).order_by(User.email)))
    if actor.is_device:
        return [actor.user]
    q = select(User).where(sa.or_(col(User.id).in_(projects.known_users(actor)), User.id == actor.id))
    return list(session.exec(q.order_by(User.email)))


def get_user(session: Session, actor: Actor, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None or not (actor.is_admin or user.id == actor.id
                            or any(u.id == user_id for u in visible_users(session, actor))):
        raise NotFound("No such user.")
    return user


def update_user(session: Session, actor: Actor, user: User, data: UserUpdate) -> User:
    """Anyone changes their own name, and their own password given the current one. An admin changes anyone
    (a password reset needs no current password); a coordinator may only reset the password of a researcher
    they manage (projects.service.manages). Either reset is audited and ends the user's sessions and phones."""
    _refuse_device(actor, "change accounts")
    changes = data.model_dump(exclude_unset=True)
    current = changes.pop("current_password", None)
    own = user.id == actor.id
    if own and not actor.is_admin and {"is_active", "is_admin"} & changes.keys():
        raise Forbidden("Only an admin can change anyone's role or disable an account.")
    if not own and not actor.is_admin and (changes.keys() - {"password"}
                                           or not projects.manages(session, actor, user)):
        raise Forbidden("You can reset the password only of a researcher who belongs to your projects alone; "
                        "an admin does the rest.", code="not_managed")
    password = changes.pop("password", None)
    if password is not None:
        if own:
            if not current:
                raise Invalid("Send your current password (current_password) to change it.",
                              code="current_password_required")
            _check_current_password(session, user, current)
        user.password_hash = hash_password(password)
        _revoke_all(session, user.id, keep=actor.token.id if own else None)
        if not own:
            audit.record(session, actor_id=actor.id, action="user.password_reset", entity="user", entity_id=user.id)
    for key, value in changes.items():
        if value is None:
            continue
        setattr(user, key, value)
    if changes.get("is_active") is False:
        _revoke_all(session, user.id)
    session.add(user)
    audit.record(session, actor_id=actor.id, action="user.update", entity="user", entity_id=user.id,
                 detail={"fields": sorted(data.model_dump(exclude_unset=True).keys() - {"current_password"})})
    return user


def _check_current_password(session: Session, user: User, current: str) -> None:
    """A stolen session token must not become a way to guess the account's password: tries are counted per
    account (whatever the address, since the token already names the account), refused with 429 after
    `login_lock_after` in a window; the right password clears the count."""
    settings = get_settings()
    window = timedelta(minutes=settings.login_lock_minutes)
    tries = throttle.count_in(session, throttle.key("password", str(user.id)), window)
    if tries.attempts > settings.login_lock_after:
        raise TooManyRequests("Too many wrong current passwords; try again later.", code="too_many_attempts",
                              headers={"Retry-After": str(throttle.retry_after(tries, window))}, keep_changes=True)
    if not verify_password(user.password_hash, current):
        raise Forbidden("That is not your current password.", code="current_password_wrong", keep_changes=True,
                        delay=throttle.slowdown(tries.attempts - settings.login_slow_after))
    throttle.forget(session, tries.key)


def _revoke_all(session: Session, user_id: uuid.UUID, keep: uuid.UUID | None = None) -> None:
    for token in session.exec(select(AuthToken).where(AuthToken.user_id == user_id,
                                                      col(AuthToken.revoked_at).is_(None))):
        if token.id != keep:
            token.revoked_at = utcnow()
            session.add(token)


def _issue(session: Session, user: User, kind: TokenKind, lifetime: timedelta,
           project_id: uuid.UUID | None = None, device_label: str | None = None) -> tuple[AuthToken, str]:
    secret = new_token()
    token = AuthToken(user_id=user.id, token_hash=digest(secret), kind=kind, project_id=project_id,
                      device_label=device_label, expires_at=utcnow() + lifetime)
    session.add(token)
    session.flush()
    return token, secret


def login(session: Session, email: str, password: str, address: str) -> tuple[AuthToken, str, User]:
    """Check a password. Guesses are counted per (email, client address) and per client address, known email
    or not (api/people/throttle.py): slowed, then refused with 429 until the window ends."""
    settings = get_settings()
    email = normalise_email(email)
    window = timedelta(minutes=settings.login_lock_minutes)
    pair, per_address = throttle.count([throttle.key("login", email, address),
                                        throttle.key("login-address", address)], window)
    refused = [c for c, limit in ((pair, settings.login_lock_after),
                                  (per_address, settings.login_address_lock_after)) if c.attempts > limit]
    if refused:
        raise TooManyRequests("Too many failed logins from here; try again later.", code="too_many_attempts",
                              headers={"Retry-After": str(max(throttle.retry_after(c, window) for c in refused))})
    # The hash is checked outside the request's writing transaction, so SQLite's write lock is not held
    # while argon2 works.
    with open_session(read_only=True) as reader:
        found = reader.exec(select(User).where(User.email == email)).first()
    ok = verify_password(found.password_hash if found else None, password)
    user = session.get(User, found.id) if ok and found is not None else None
    if user is not None and user.is_active:
        throttle.forget(session, pair.key)
        throttle.uncount(session, per_address.key)
        token, secret = _issue(session, user, TokenKind.session, timedelta(hours=settings.session_ttl_hours))
        return token, secret, user
    raise Unauthorized(BAD_LOGIN, code="invalid_credentials",
                       delay=max(throttle.slowdown(pair.attempts - settings.login_slow_after),
                                 throttle.slowdown(per_address.attempts - settings.login_address_slow_after)))


def logout(session: Session, actor: Actor) -> None:
    actor.token.revoked_at = utcnow()
    session.add(actor.token)


def create_enrolment_code(session: Session, actor: Actor, project_id: uuid.UUID,
                          user_id: uuid.UUID) -> tuple[EnrolmentCode, str]:
    """A one-time code for a researcher of this project; a coordinator makes one only for a researcher they
    manage (projects.service.manages), an admin for any researcher (both audited)."""
    membership = session.get(Membership, (project_id, user_id))
    user = session.get(User, user_id)
    if membership is None or user is None:
        raise NotFound("That user is not a member of this project.")
    if membership.role != Role.researcher:
        raise Conflict("Enrolment codes are for researchers: a phone acts only as a researcher. Coordinators "
                       "log in with their password.", code="not_a_researcher")
    if not projects.manages(session, actor, user):
        raise Forbidden("You can enrol phones only for researchers who belong to your projects alone (not admins "
                        "or coordinators); ask an admin.", code="not_managed")
    code = new_enrolment_code()
    row = EnrolmentCode(project_id=project_id, user_id=user_id, code_hash=digest(code), created_by=actor.id,
                        expires_at=utcnow() + timedelta(minutes=get_settings().enrolment_code_ttl_minutes))
    session.add(row)
    audit.record(session, actor_id=actor.id, action="enrolment.create", entity="user", entity_id=user_id,
                 project_id=project_id)
    return row, code


def enrol_qr_svg(link: str) -> str:
    """A QR code of an enrol link as a standalone SVG. Error correction M survives a scuffed printout or glare
    on a screen; 4 px modules on a white quiet zone keep it small yet scannable from a laptop screen."""
    qr = segno.make_qr(link, error="m", boost_error=False)
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=4, border=4, light="#fff", xmldecl=False, nl=False,
            title="QR code to enrol a phone with Hearken")
    size = qr.symbol_size(scale=4, border=4)[0]
    # An image to assistive technology, named by its <title>; a viewBox so a page may scale it for print.
    return out.getvalue().decode().replace("<svg ", f'<svg role="img" viewBox="0 0 {size} {size}" ', 1)


def enrol(session: Session, code: str, device_label: str | None, address: str) -> tuple[AuthToken, str, User]:
    """Exchange a one-time code for a device token. Tries are counted per client address and overall (a right
    code is taken back off both), so guessing is refused with 429 long before the code space is searched."""
    tries = throttle.count_code_guess("enrol", address, "Too many wrong enrolment codes; try again later.")
    row = session.exec(select(EnrolmentCode).where(
        EnrolmentCode.code_hash == digest(normalise_enrolment_code(code)))).first()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise Unauthorized("That enrolment code is not valid, was used already, or has expired.",
                           code="invalid_code")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active or session.get(Membership, (row.project_id, row.user_id)) is None:
        raise Unauthorized("That enrolment code is no longer valid.", code="invalid_code")
    # Claimed in one statement that wants it still unused: two phones sending the same code at once both read it
    # unused, and on PostgreSQL the second waits for the first's row lock, then matches nothing.
    claimed = session.execute(sa.update(EnrolmentCode).where(col(EnrolmentCode.id) == row.id,
                                                            col(EnrolmentCode.used_at).is_(None))
                              .values(used_at=utcnow()).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise Unauthorized("That enrolment code is not valid, was used already, or has expired.",
                           code="invalid_code")
    throttle.uncount_all(session, tries)
    token, secret = _issue(session, user, TokenKind.device,
                           timedelta(days=get_settings().device_token_ttl_days),
                           project_id=row.project_id, device_label=device_label)
    audit.record(session, actor_id=user.id, action="device.enrol", entity="device", entity_id=token.id,
                 project_id=row.project_id)
    return token, secret, user


def list_devices(session: Session, project_id: uuid.UUID) -> list[AuthToken]:
    """Every phone that can capture for this project: the enrolled phones of its members, wherever they were
    enrolled (a device token works in each project of its researcher), and their password logins that have
    synced and still work. Members' tokens only: nobody outside the project is listed."""
    members = select(Membership.user_id).where(Membership.project_id == project_id)
    return list(session.exec(select(AuthToken).where(
        col(AuthToken.user_id).in_(members),
        sa.or_(AuthToken.kind == TokenKind.device,
               sa.and_(AuthToken.kind == TokenKind.session, col(AuthToken.last_sync_at).is_not(None),
                       col(AuthToken.revoked_at).is_(None), AuthToken.expires_at > utcnow())))
                             .order_by(col(AuthToken.created_at).desc())))


def may_revoke_device(session: Session, actor: Actor, device: AuthToken) -> bool:
    """Its researcher, or a coordinator of any project the phone captures for (any project of that researcher's)."""
    if device.user_id == actor.id or actor.is_admin:
        return True
    coordinated = select(Membership.project_id).where(Membership.user_id == actor.id,
                                                      Membership.role == Role.coordinator)
    return session.exec(select(Membership.project_id).where(
        Membership.user_id == device.user_id, col(Membership.project_id).in_(coordinated)).limit(1)).first() is not None


def revoke_device(session: Session, actor: Actor, device: AuthToken) -> None:
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        session.add(device)
    audit.record(session, actor_id=actor.id, action="device.revoke", entity="device", entity_id=device.id,
                 project_id=device.project_id)
