import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from api.clients import service as clients
from api.clients.deps import CurrentReader
from api.db import SessionDep
from api.errors import (
    Conflict,
    ErrorBody,
    Forbidden,
    Invalid,
    NotFound,
    TooLarge,
    TooManyRequests,
    UnsupportedMediaType,
    responses,
)
from api.fragments import service as fragments
from api.people.deps import CurrentActor
from api.projects import service as projects
from api.tags import codebook, service
from api.tags.models import (
    CodebookImportResult,
    Cooccurrence,
    TagCount,
    TagCreate,
    TagDeletionPreview,
    TagDeletionResult,
    TagFragmentsChange,
    TagFragmentsResult,
    TagMerge,
    TagPublic,
    TagUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["tagging"])


@router.post("/projects/{project_id}/tags", response_model=TagPublic, status_code=201,
             responses=responses(NotFound, Forbidden, Conflict, Invalid))
def create_tag(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID, body: TagCreate) -> TagPublic:
    """Add a code to the project's codebook, optionally under a parent."""
    project = projects.require_coordinator(session, actor, project_id)
    return TagPublic.model_validate(service.create(session, actor, project, body))


@router.get("/projects/{project_id}/tags", response_model=list[TagPublic],
            responses=responses(NotFound, Forbidden, TooManyRequests))
def list_tags(session: SessionDep, reader: CurrentReader, project_id: uuid.UUID) -> list[TagPublic]:
    """The project's codebook (API clients need `tags:read`)."""
    project = service.project_for_reader(session, reader, project_id)
    tags = [TagPublic.model_validate(t) for t in service.list_for_project(session, project)]
    clients.audit_read(reader, "tags.list", {"count": len(tags)})
    return tags


@router.patch("/tags/{tag_id}", response_model=TagPublic, responses=responses(NotFound, Forbidden, Conflict, Invalid))
def update_tag(session: SessionDep, actor: CurrentActor, tag_id: uuid.UUID, body: TagUpdate) -> TagPublic:
    """Rename, describe, recolour or move a tag (`parent_id: null` = top level). A move under itself or one of its
    descendants is `tag_cycle` (422); a name another tag of the codebook has is `tag_exists` (409)."""
    tag = service.get_for_coordinator(session, actor, tag_id)
    return TagPublic.model_validate(service.update(session, actor, tag, body))


@router.put("/fragments/{fragment_id}/tags/{tag_id}", status_code=204,
            responses=responses(NotFound, Forbidden, Conflict))
def tag_fragment(session: SessionDep, actor: CurrentActor, fragment_id: uuid.UUID, tag_id: uuid.UUID) -> Response:
    """Apply a tag to a fragment (idempotent)."""
    fragment, _ = fragments.get_for_reader(session, actor, fragment_id)
    tag = service.get_for_coordinator(session, actor, tag_id)
    service.tag_fragment(session, actor, fragment, tag)
    return Response(status_code=204)


@router.delete("/fragments/{fragment_id}/tags/{tag_id}", status_code=204, responses=responses(NotFound, Forbidden))
def untag_fragment(session: SessionDep, actor: CurrentActor, fragment_id: uuid.UUID, tag_id: uuid.UUID) -> Response:
    """Take a tag off a fragment."""
    fragment, _ = fragments.get_for_reader(session, actor, fragment_id)
    projects.require_coordinator(session, actor, fragment.project_id)
    service.untag_fragment(session, actor, fragment, tag_id)
    return Response(status_code=204)


@router.post("/tags/{tag_id}/merge", response_model=TagPublic, responses=responses(NotFound, Forbidden, Invalid))
def merge_tag(session: SessionDep, actor: CurrentActor, tag_id: uuid.UUID, body: TagMerge) -> TagPublic:
    """Merge this tag into another of the project's: its fragments get the other tag, its children move under it,
    and this tag is deleted. Answers the surviving tag."""
    tag = service.get_for_coordinator(session, actor, tag_id)
    return TagPublic.model_validate(service.merge(session, actor, tag, body.into))


@router.post("/tags/{tag_id}/fragments", response_model=TagFragmentsResult,
             responses=responses(NotFound, Forbidden, Invalid))
def change_tagged_fragments(session: SessionDep, actor: CurrentActor, tag_id: uuid.UUID,
                            body: TagFragmentsChange) -> TagFragmentsResult:
    """Apply this tag to up to 500 fragments and take it off up to 500, all or nothing: any id that is unknown,
    erased or in another project fails the whole request with `bad_fragments` (422) and its `ids`."""
    tag = service.get_for_coordinator(session, actor, tag_id)
    return service.change_fragments(session, actor, tag, body)


XML_TYPES = ("application/xml", "text/xml")
_XML_BODY: dict[str, Any] = {"schema": {"type": "string", "description": "A REFI-QDA codebook (.qdc)."}}


@router.get("/projects/{project_id}/codebook.qdc", response_class=Response,
            responses={**responses(NotFound, Forbidden, TooManyRequests),
                       200: {"description": "The codebook (REFI-QDA 1.0, urn:QDA-XML:codebook:1.0).",
                             "content": {"application/xml": _XML_BODY}}})
def export_codebook(session: SessionDep, reader: CurrentReader, project_id: uuid.UUID) -> Response:
    """The project's codebook as a REFI-QDA codebook file (.qdc) for NVivo, ATLAS.ti, MAXQDA and others: each tag
    a code whose guid is the tag's id, with its colour, description and place in the tree."""
    project = service.project_for_reader(session, reader, project_id)
    content = codebook.export(session, project)
    clients.audit_read(reader, "codebook.export", {})
    return Response(content, media_type="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{codebook.filename(project)}"'})


async def _xml_body(request: Request) -> bytes:
    # Read here, in an async dependency, so the route itself stays synchronous like every other.
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > codebook.MAX_BYTES:
            raise TooLarge(f"A codebook file may be at most {codebook.MAX_BYTES // 1024} KB.",
                           code="codebook_too_large")
    return bytes(body)


@router.post("/projects/{project_id}/codebook.qdc", response_model=CodebookImportResult,
             responses={**responses(NotFound, Forbidden, UnsupportedMediaType, Conflict),
                        400: {"model": ErrorBody, "description": "`invalid_codebook`: not well-formed, safe XML, "
                                                                 "or not a REFI-QDA codebook. Nothing is stored."}},
             openapi_extra={"requestBody": {"required": True, "content": {t: _XML_BODY for t in XML_TYPES}}})
def import_codebook(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                    body: Annotated[bytes, Depends(_xml_body)],
                    content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
                    dry_run: Annotated[bool, Query(description="Only report what an import would do.")] = False,
                    ) -> CodebookImportResult:
    """Import a REFI-QDA codebook (.qdc; the XML as the body). Codes are matched to tags by guid, else by name,
    and take the file's name, description, colour and place in the tree; new codes become tags. Tags the file
    does not mention stay. A malformed or unsafe file, or one that is not a codebook, is `invalid_codebook` (400)
    and changes nothing; a name held by a tag the file does not match is `tag_exists` (409)."""
    project = projects.require_coordinator(session, actor, project_id)
    if (content_type or "").split(";")[0].strip().lower() not in XML_TYPES:
        raise UnsupportedMediaType("Send the codebook as application/xml or text/xml.")
    return codebook.import_codebook(session, actor, project, body, dry_run)


# --- lifecycle: counts, co-occurrence, deletion -------------------------------------------------------------

@router.get("/projects/{project_id}/tag-counts", response_model=list[TagCount],
            responses=responses(NotFound, Forbidden))
def tag_counts(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID) -> list[TagCount]:
    """Fragments per tag: its own, and with every tag under it (a fragment counted once). Coordinators only."""
    project = projects.require_coordinator(session, actor, project_id)
    return service.counts(session, project)


@router.get("/projects/{project_id}/tag-cooccurrence", response_model=Cooccurrence,
            responses=responses(NotFound, Forbidden, Invalid))
def tag_cooccurrence(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                     top: Annotated[int, Query(ge=2, le=30, description="How many of the most used tags.")] = 12,
                     ) -> Cooccurrence:
    """How often two of the project's most used tags share a fragment. Coordinators only."""
    project = projects.require_coordinator(session, actor, project_id)
    return service.cooccurrence(session, project, top)


@router.get("/tags/{tag_id}/deletion-preview", response_model=TagDeletionPreview,
            responses=responses(NotFound, Forbidden))
def tag_deletion_preview(session: SessionDep, actor: CurrentActor, tag_id: uuid.UUID) -> TagDeletionPreview:
    """What deleting this tag would do: how many fragments lose it, how many tags sit under it."""
    return service.deletion_preview(session, service.get_for_coordinator(session, actor, tag_id))


@router.delete("/tags/{tag_id}", response_model=TagDeletionResult, responses=responses(NotFound, Forbidden, Conflict))
def delete_tag(session: SessionDep, actor: CurrentActor, tag_id: uuid.UUID,
               children: Annotated[Literal["lift", "delete"], Query(
                   description="`lift`: tags under it move up to its parent; `delete`: they go too.")] = "lift",
               if_unused: Annotated[bool, Query(description="Refuse with `tag_in_use` (409) if any fragment "
                                                            "has it or a tag sits under it.")] = False,
               ) -> TagDeletionResult:
    """Delete a tag from the codebook. Its fragments lose it (they go out again on the change feed and as
    `tag.changed` webhooks), the tag itself leaves as a tombstone, and the deletion is audited."""
    tag = service.get_for_coordinator(session, actor, tag_id)
    return service.delete(session, actor, tag, children, if_unused)
