"""The capture rules shared by sync and by later edits: what consent and the project allow."""

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlmodel import Session, select

from api.consent.models import Consent, Scope
from api.fragments.models import Fragment, FragmentKind
from api.projects.models import Project, Prompt


class Rejected(Exception):
    """One record breaks a rule; the batch goes on without it."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def check_kind_allowed(kind: FragmentKind | str, scopes: Iterable[str]) -> None:
    if kind == FragmentKind.quote and Scope.quote.value not in set(scopes):
        raise Rejected("scope_missing", "A verbatim quote needs the participant's consent to be quoted (scope 'quote').")


def check_answers(questions: list[dict[str, Any]], answers: Mapping[str, Any] | None) -> None:
    if not answers:
        return
    by_id = {q["id"]: q for q in questions}
    for key, value in answers.items():
        q = by_id.get(key)
        if q is None:
            raise Rejected("invalid_answers", f"The project has no question {key!r}.")
        if q["type"] == "slider":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise Rejected("invalid_answers", f"The answer to {key!r} must be a whole number from 0 to 100.")
        elif value not in q.get("options", []):
            raise Rejected("invalid_answers", f"The answer to {key!r} must be one of the question's options.")


def trained_on(periods: list[tuple[date, date]], day: date) -> bool:
    return any(start <= day <= end for start, end in periods)


def check_fragment_edit(session: Session, fragment: Fragment, changes: dict[str, Any]) -> None:
    """An edit may not do what a new record could not: a quote without the scope, unknown answers or prompts."""
    from api.errors import Invalid

    # FOR SHARE: a narrowing (which locks the consent FOR UPDATE) cannot take a scope away under this edit.
    consent = session.get(Consent, fragment.consent_id, with_for_update={"read": True}, populate_existing=True)
    project = session.get(Project, fragment.project_id)
    assert consent is not None and project is not None
    try:
        if "kind" in changes:
            check_kind_allowed(changes["kind"], consent.scopes)
        if "answers" in changes:
            check_answers(project.questions, changes["answers"])
        if changes.get("prompt_id") is not None and session.exec(
            select(Prompt.id).where(Prompt.id == changes["prompt_id"], Prompt.project_id == project.id)
        ).first() is None:
            raise Rejected("unknown_prompt", "That prompt is not one of this project's.")
    except Rejected as exc:
        raise Invalid(exc.detail, code=exc.code) from exc


