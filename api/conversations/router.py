import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.conversations import service
from api.conversations.models import ConversationPublic, ConversationUpdate
from api.db import SessionDep
from api.errors import Conflict, Invalid, NotFound, PreconditionFailed, responses
from api.people.deps import CurrentActor
from api.versioning import etag, if_match_version

router = APIRouter(prefix="/api/v1/conversations", tags=["capture"])


@router.get("", response_model=list[ConversationPublic], responses=responses(NotFound))
def list_conversations(session: SessionDep, actor: CurrentActor, project_id: uuid.UUID,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50,
                       offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[ConversationPublic]:
    """A project's conversations, newest first (a researcher sees only their own)."""
    return [ConversationPublic.model_validate(c)
            for c in service.list_for_reader(session, actor, project_id, limit, offset)]


@router.get("/{conversation_id}", response_model=ConversationPublic, responses=responses(NotFound))
def get_conversation(session: SessionDep, actor: CurrentActor, conversation_id: uuid.UUID,
                     response: Response) -> ConversationPublic:
    """One conversation; its ETag is its version."""
    conv = service.get_for_reader(session, actor, conversation_id)
    response.headers["ETag"] = etag(conv.version)
    return ConversationPublic.model_validate(conv)


@router.patch("/{conversation_id}", response_model=ConversationPublic,
              responses=responses(NotFound, Conflict, PreconditionFailed, Invalid))
def update_conversation(session: SessionDep, actor: CurrentActor, conversation_id: uuid.UUID,
                        body: ConversationUpdate, response: Response,
                        version: Annotated[int | None, Depends(if_match_version)]) -> ConversationPublic:
    """Correct a conversation's place, prompts or note; send its version in If-Match (stale → 409)."""
    conv = service.update(session, actor, service.get_for_reader(session, actor, conversation_id), body, version)
    response.headers["ETag"] = etag(conv.version)
    return ConversationPublic.model_validate(conv)
