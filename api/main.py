"""create_app(): the routers, the one error handler, and the web client at /app/."""

import asyncio
import functools
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import api.models  # noqa: F401  (every table registered before the first query)
from api import headers, logs
from api.audit.router import router as audit_router
from api.clients.router import router as clients_router
from api.config import get_settings
from api.consent.router import router as consent_router
from api.conversations.router import router as conversations_router
from api.errors import AppError
from api.export.router import router as export_router
from api.feed.router import router as feed_router
from api.fragments.review_router import router as review_router
from api.fragments.router import router as fragments_router
from api.inputs import RefuseControlChars, ascii_int
from api.media.router import router as media_router
from api.memos.router import router as memos_router
from api.people.router import router as people_router
from api.projects.router import items_router as project_items_router
from api.projects.router import router as projects_router
from api.sync.router import router as sync_router
from api.tags.router import router as tags_router
from api.webhooks import worker as webhook_worker
from api.webhooks.router import router as webhooks_router
from api.workshops.router import router as workshops_router

log = logging.getLogger("hearken")

WEBCLIENT_DIR = Path(__file__).resolve().parent.parent / "webclient"
HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 406: "not_acceptable", 413: "too_large", 415: "unsupported_media_type"}


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None,
           **extra: Any) -> JSONResponse:
    return JSONResponse({"code": code, "detail": detail, **extra}, status_code=status, headers=headers)


class BodySizeLimit:
    """Refuse request bodies over a limit as they stream in (413), before anything parses them."""

    def __init__(self, app: ASGIApp, default: int, per_path: dict[str, int]):
        self.app, self.default, self.per_path = app, default, per_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
        code = "batch_too_large" if scope["path"] in self.per_path else "body_too_large"
        declared = ascii_int(dict(scope.get("headers") or []).get(b"content-length", b"").decode("latin-1"))
        if declared is not None and declared > limit:
            await self._refuse(send, limit, code)
            return
        received, over = 0, False

        async def limited_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # A chunked body has no Content-Length: the app may catch our exception while reading it and answer
            # 400 itself. Whatever it answers once the limit was crossed becomes the 413.
            if not over:
                await send(message)

        with suppress(_BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if over:
            await self._refuse(send, limit, code)

    @staticmethod
    async def _refuse(send: Send, limit: int, code: str) -> None:
        response = _error(413, code, f"The request body is over {limit // 1024} KB; send less at once.")
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


class _BodyTooLarge(Exception):
    pass


def allowed_methods(request: Request) -> str:
    """Every method some route answers at this path: Starlette's 405 names only the first route's."""
    return ", ".join(method for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
                     if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                            for route in request.app.router.routes))


@functools.cache
def freeze_startup_objects() -> None:
    """Takes what is alive once the app is built (modules, routes, schemas, some 100k+ objects) out of the garbage
    collector's sight, once a process. A full collection then walks only what requests made since: before, the
    overview's few thousand rows set one off every few calls, 50-100 ms each at a million fragments (its p95 126 ms
    against a p50 of 22 ms). What is frozen is still freed when its last reference goes; only a cycle among these
    long-lived objects would stay, and they live as long as the process."""
    gc.collect()
    gc.freeze()


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    """Runs the webhook delivery worker beside the API unless HEARKEN_WEBHOOK_WORKER=false."""
    settings = get_settings()
    freeze_startup_objects()
    halt = webhook_worker.start_in_background(settings.webhook_worker_seconds) if settings.webhook_worker else None
    yield
    if halt:
        halt()


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        lifespan=lifespan,
        title="Hearken",
        version="0.1.0",
        description="Consented fragments of community conversations. Errors are `{\"code\", \"detail\"}`.",
        docs_url=None,  # /docs comes from api.headers, with a Content-Security-Policy that fits it
        redoc_url=None,
    )

    @app.exception_handler(AppError)
    async def app_error(_: Request, exc: AppError) -> JSONResponse:
        if exc.delay:
            await asyncio.sleep(exc.delay)
        return _error(exc.status, exc.code, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()[:20]]
        if any(e["type"] == "json_invalid" for e in errors):
            return _error(400, "malformed_json", "The request body is not valid JSON.")
        fields = ", ".join(".".join(e["loc"][1:] if len(e["loc"]) > 1 else e["loc"]) for e in errors[:5])
        return _error(422, "validation_error", f"Check these fields: {fields}.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        return _error(exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(OperationalError)
    async def database_busy(request: Request, exc: OperationalError) -> JSONResponse:
        # SQLite's lock timeout, and PostgreSQL's deadlock or serialization failure (SQLSTATE class 40: it rolled
        # this transaction back so another could go on): nothing was stored, and the same request again succeeds.
        if "database is locked" in str(exc.orig) or str(getattr(exc.orig, "sqlstate", "") or "").startswith("40"):
            return _error(503, "busy", "The server is busy; try again in a moment.", {"Retry-After": "2"})
        return await unexpected(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "Something went wrong on the server; it has been logged.",
                      headers.api_error_headers())

    @app.get("/api/v1/health", tags=["meta"])
    def health() -> dict[str, str]:
        """Answers 200 while the server is up (used by phones to tell 'online' from 'no signal')."""
        return {"status": "ok"}

    # A request is matched against each route in turn, a regular expression each, until one fits: what every phone
    # asks often (health, sync, uploads) comes first. No two routers share a path, so the order changes nothing else.
    for router in (sync_router, media_router, people_router, projects_router, consent_router, conversations_router,
                   fragments_router, tags_router, feed_router, clients_router, export_router, webhooks_router,
                   audit_router, review_router, project_items_router, memos_router, workshops_router):
        app.include_router(router)

    webclient = settings.webclient_dir or WEBCLIENT_DIR
    if webclient.is_dir():
        # Compressed: the shell crosses a poor phone connection once, and every byte counts there.
        app.mount("/app", GZipMiddleware(StaticFiles(directory=webclient, html=True), minimum_size=500), name="app")

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/app/")

    app.add_middleware(BodySizeLimit, default=1024 * 1024, per_path={"/api/v1/sync": settings.sync_max_bytes})
    app.add_middleware(RefuseControlChars)
    headers.add_docs(app)
    logs.install()  # no query strings (search words, labels) in the access log
    app.add_middleware(headers.SecurityHeaders)  # outermost: every answer, errors and 413s included
    return app
