"""Audio clips: tus 1.0 resumable upload under /api/v1/uploads/, playback with HTTP Range.

The phone, once the clip's fragment is on the server (every request with its bearer token and
`Tus-Resumable: 1.0.0`):
  POST  /api/v1/uploads/           Upload-Length: <bytes>; Upload-Metadata: fragment_id <b64>,sha256 <b64 of hex>,
                                   filename <b64>,filetype <b64>  -> 201 + Location (or the upload already under
                                   way for this clip, with its Upload-Offset); 200 if this clip is already attached
  PATCH <Location>                 Upload-Offset: <n>; Content-Type: application/offset+octet-stream; body <= 1 MB
                                   -> 204 + the new Upload-Offset; the last chunk answers only after the clip is
                                   checked and attached (or 422 checksum_mismatch / 415 not_audio, nothing kept)
  HEAD  <Location>                 -> 200 + Upload-Offset: resume from there (404: start again with POST)
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials

from api.clients import service as clients
from api.clients.deps import ClientActor, CurrentReader
from api.clients.models import ClientScope
from api.config import get_settings
from api.db import SessionDep
from api.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PreconditionFailed,
    RangeNotSatisfiable,
    TooLarge,
    TooManyRequests,
    Unavailable,
    UnsupportedMediaType,
    responses,
)
from api.fragments import service as fragments
from api.inputs import ascii_int
from api.media import service
from api.media.models import AudioUpload, UploadState
from api.people.deps import CurrentActor, bearer

router = APIRouter(prefix="/api/v1", tags=["audio"])
OFFSET_STREAM = "application/offset+octet-stream"


def _tus_headers(upload: AudioUpload | UploadState) -> dict[str, str]:
    return {"Tus-Resumable": service.TUS_VERSION, "Upload-Offset": str(upload.offset),
            "Upload-Length": str(upload.length), "Cache-Control": "no-store"}


def _require_tus(tus_resumable: str | None) -> None:
    if tus_resumable != service.TUS_VERSION:
        raise PreconditionFailed(f"Send 'Tus-Resumable: {service.TUS_VERSION}'.", code="tus_version",
                                 headers={"Tus-Version": service.TUS_VERSION})


def _number(name: str, value: str | None) -> int:
    number = ascii_int(value, max_digits=15)
    if number is None:
        raise Invalid(f"{name} must be a whole number of bytes.", code="invalid_header")
    return number


# PATCH looks its caller up itself, in the same short read as the upload: no transaction stays open while
# the body streams in.
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@router.options("/uploads/", status_code=204, responses={204: {"description": "What this tus server supports."}})
def tus_options() -> Response:
    """tus discovery: protocol version, largest clip, extensions (no token needed)."""
    return Response(status_code=204, headers={
        "Tus-Resumable": service.TUS_VERSION, "Tus-Version": service.TUS_VERSION,
        "Tus-Max-Size": str(get_settings().media_max_bytes), "Tus-Extension": "creation"})


@router.post("/uploads/", status_code=201, response_model=UploadState,
             responses={**responses(NotFound, Forbidden, Conflict, PreconditionFailed, TooLarge, Invalid),
                        200: {"model": UploadState, "description": "This very clip is already attached."}})
def create_upload(session: SessionDep, actor: CurrentActor, response: Response,
                  tus_resumable: Annotated[str | None, Header()] = None,
                  upload_length: Annotated[str | None, Header()] = None,
                  upload_metadata: Annotated[str | None, Header()] = None) -> UploadState:
    """tus creation: start uploading a fragment's audio clip. Headers: `Upload-Length`, `Upload-Metadata` with
    `fragment_id`, `sha256` (hex), `filename`, `filetype`. Answers 201 and the upload's `Location` (or the one
    already under way for the same clip, with its `Upload-Offset`); 200 when the same clip is already attached."""
    _require_tus(tus_resumable)
    length = _number("Upload-Length", upload_length)
    upload, created = service.create_upload(session, actor, length, service.parse_metadata(upload_metadata))
    response.headers.update({**_tus_headers(upload), "Location": f"/api/v1/uploads/{upload.id}"})
    if upload.completed_at is not None:
        response.status_code = 200
    return service.state(upload)


@router.head("/uploads/{upload_id}", status_code=200, responses={**responses(NotFound, PreconditionFailed)})
def upload_offset(session: SessionDep, actor: CurrentActor, upload_id: uuid.UUID,
                  tus_resumable: Annotated[str | None, Header()] = None) -> Response:
    """tus: how many bytes of this upload the server holds (`Upload-Offset`), to resume from there."""
    _require_tus(tus_resumable)
    return Response(status_code=200, headers=_tus_headers(service.get_upload(session, actor, upload_id)))


@router.patch("/uploads/{upload_id}", status_code=204,
              responses={**responses(NotFound, Forbidden, Conflict, PreconditionFailed, Invalid, UnsupportedMediaType,
                                     TooLarge, Unavailable)})
async def upload_chunk(request: Request, credentials: Credentials, upload_id: uuid.UUID,
                       tus_resumable: Annotated[str | None, Header()] = None,
                       upload_offset: Annotated[str | None, Header()] = None,
                       content_type: Annotated[str | None, Header()] = None) -> Response:
    """tus: append a chunk (about 512 KB; at most 1 MB) at `Upload-Offset`, as
    `application/offset+octet-stream`. The last chunk is checked (SHA-256, an audio container) and attached
    to the fragment before the answer: 204 with the new `Upload-Offset`, or a 4xx and nothing kept."""
    def checks() -> int:
        _require_tus(tus_resumable)
        if (content_type or "").split(";")[0].strip().lower() != OFFSET_STREAM:
            raise UnsupportedMediaType(f"Send the bytes as {OFFSET_STREAM}.", code="wrong_content_type")
        return _number("Upload-Offset", upload_offset)

    state = await service.append(credentials, upload_id, checks, request.stream())
    return Response(status_code=204, headers=_tus_headers(state))


@router.get("/fragments/{fragment_id}/audio", response_class=StreamingResponse,
            responses={**responses(NotFound, Forbidden, RangeNotSatisfiable, Unavailable, TooManyRequests),
                       200: {"content": {"audio/*": {}}, "description": "The whole clip."},
                       206: {"content": {"audio/*": {}}, "description": "The byte range asked for."}})
def get_audio(session: SessionDep, reader: CurrentReader, fragment_id: uuid.UUID,
              range_: Annotated[str | None, Header(alias="Range")] = None) -> StreamingResponse:
    """A fragment's audio clip, with HTTP Range for seeking. API clients need the scope `audio:read`."""
    if isinstance(reader, ClientActor):
        reader.require(ClientScope.audio_read)
    fragment, _ = fragments.get_for_reader(session, reader, fragment_id)
    clip = service.open_clip(session, fragment)
    wanted = service.parse_range(range_, clip.size)
    start, end = wanted or (0, clip.size - 1)
    body = service.read_clip(clip, start, end)
    clients.audit_read(reader, "audio.get", {"ids": [str(fragment.id)]})
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start + 1), "ETag": f'"{clip.sha256}"',
               "Cache-Control": "private, no-store"}
    if wanted:
        headers["Content-Range"] = f"bytes {start}-{end}/{clip.size}"
    return StreamingResponse(body, status_code=206 if wanted else 200, media_type=clip.content_type,
                             headers=headers)
