"""Saved searches: named GET /fragments filters, shared by a project's coordinators."""

import uuid
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from api.audit import service as audit
from api.errors import Conflict, Invalid, NotFound
from api.fragments import service as fragments
from api.fragments.models import MAX_SAVED_SEARCHES, SEARCH_FILTERS, SavedSearch, SavedSearchCreate
from api.people.deps import Actor
from api.projects import service as projects
from api.projects.models import Project


@cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def check_query(query: dict[str, str]) -> None:
    """Every key a GET /fragments filter and every value one it accepts, so a saved search always runs."""
    unknown = sorted(set(query) - set(SEARCH_FILTERS))
    if unknown:
        raise Invalid(f"Not a fragment filter: {', '.join(unknown)}. Use: {', '.join(SEARCH_FILTERS)}.",
                      code="unknown_filters", extra={"keys": unknown})
    for key, value in query.items():
        try:
            _adapter(SEARCH_FILTERS[key]).validate_python(value)
        except ValidationError as exc:
            raise Invalid(f"The filter {key!r} cannot be {value[:50]!r}.", code="invalid_filter",
                          extra={"keys": [key]}) from exc
    if "q" in query:
        fragments.search_words(query["q"])


def list_for_project(session: Session, project: Project) -> list[SavedSearch]:
    return list(session.exec(select(SavedSearch).where(SavedSearch.project_id == project.id)
                             .order_by(func.lower(SavedSearch.name), SavedSearch.id)))


def create(session: Session, actor: Actor, project: Project, data: SavedSearchCreate) -> SavedSearch:
    check_query(data.query)
    taken = session.exec(select(SavedSearch.name).where(SavedSearch.project_id == project.id)).all()
    if data.name in taken:
        raise Conflict(f"This project already has a saved search called {data.name!r}.", code="duplicate_name")
    if len(taken) >= MAX_SAVED_SEARCHES:
        raise Conflict(f"A project keeps at most {MAX_SAVED_SEARCHES} saved searches; delete one first.",
                       code="too_many_saved_searches")
    search = SavedSearch(project_id=project.id, name=data.name, query=data.query, created_by=actor.id)
    try:
        with session.begin_nested():  # two coordinators saving the same name at once: the second gets the 409
            session.add(search)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"This project already has a saved search called {data.name!r}.",
                       code="duplicate_name") from exc
    audit.record(session, actor_id=actor.id, action="saved_search.create", entity="saved_search",
                 entity_id=search.id, project_id=project.id, detail={"keys": sorted(data.query)})
    return search


def get_for_manager(session: Session, actor: Actor, search_id: uuid.UUID) -> SavedSearch:
    """The saved search, for a coordinator of its project (or an admin); 404 to anyone outside it."""
    search = session.get(SavedSearch, search_id)
    if search is None or projects.role_in(session, actor, search.project_id) is None:
        raise NotFound("No such saved search.")
    projects.require_coordinator(session, actor, search.project_id)
    return search


def delete(session: Session, actor: Actor, search: SavedSearch) -> None:
    audit.record(session, actor_id=actor.id, action="saved_search.delete", entity="saved_search",
                 entity_id=search.id, project_id=search.project_id, detail={})
    session.delete(search)
    session.flush()

