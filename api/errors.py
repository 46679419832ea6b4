"""Errors a client can cause: each has an HTTP status and a stable machine-readable code."""

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    code: str
    detail: str
    errors: list[dict[str, Any]] | None = None


class AppError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None,
                 keep_changes: bool = False, delay: float = 0.0):
        super().__init__(detail)
        # keep_changes: commit what the request wrote although it fails (a failed login is remembered).
        # delay: seconds the error handler waits before answering, outside any transaction.
        self.keep_changes = keep_changes
        self.delay = delay
        self.detail = detail
        if code:
            self.code = code
        if status:
            self.status = status
        self.headers = headers
        self.extra = extra or {}


class Unauthorized(AppError):
    status, code = 401, "unauthorized"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class PreconditionFailed(AppError):
    status, code = 412, "precondition_failed"


class TooLarge(AppError):
    status, code = 413, "too_large"


class UnsupportedMediaType(AppError):
    status, code = 415, "unsupported_media_type"


class RangeNotSatisfiable(AppError):
    status, code = 416, "range_not_satisfiable"


class Unavailable(AppError):
    status, code = 503, "unavailable"


class Busy(AppError):
    """Too much of one kind of work at once (writers queued on SQLite, password hashes); try again after
    Retry-After seconds."""

    status, code = 503, "busy"

    def __init__(self, detail: str = "The server is busy; try again in a moment.", retry_after: int = 2) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class Invalid(AppError):
    status, code = 422, "invalid"


class TooManyRequests(AppError):
    status, code = 429, "too_many_requests"


def responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: every error it may answer, so the OpenAPI document tells the truth."""
    out: dict[int | str, dict[str, Any]] = {}
    for err in (Unauthorized, *errors):
        out[err.status] = {"model": ErrorBody, "description": err.__doc__ or err.code}
    out[400] = {"model": ErrorBody, "description": "The body is not valid JSON."}
    out.setdefault(403, {"model": ErrorBody, "description": "Not allowed for this caller (an API client token, say)."})
    out[413] = {"model": ErrorBody, "description": "The body is too large."}
    out[422] = {"model": ErrorBody, "description": "The request does not have the right shape."}
    return out
