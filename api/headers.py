"""Security headers on every response, and the API documentation page served under a policy that fits it.

- Content-Security-Policy: the web client (/app/) is plain ES modules from this origin, so it gets a strict policy:
  scripts, styles, fetches and workers from 'self' only; images, audio and fetches also from data:/blob: URLs
  (signature images, QR codes, clips fetched with the token and read back from their blob: URL); nothing may frame
  it. The API answers JSON and needs nothing: `default-src 'none'`. /docs loads Swagger UI from its CDN, pinned to
  one version with Subresource Integrity (a changed file there is refused, not run on this origin, where phones and
  laptops keep participants' words), and starts it with one inline script, allowed by hash.
- X-Content-Type-Options: nosniff; X-Frame-Options: DENY (frame-ancestors for older browsers); Referrer-Policy:
  no-referrer (an address holds ids and search words).
- Cache-Control: no-store on every /api/ answer that did not set its own: they carry personal words (fragments,
  exports, consents, subject access, audio). ETags still work for what relies on them: If-Match edits and a
  client's own If-None-Match; only shared and browser caches keep nothing.
"""

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

APP_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
           "media-src 'self' blob:; connect-src 'self' blob:; worker-src 'self'; manifest-src 'self'; font-src 'self'; "
           "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SWAGGER_CDN = "https://cdn.jsdelivr.net"
# To update: `npm pack swagger-ui-dist@VERSION`, then `openssl dgst -sha384 -binary FILE | base64` for each file.
SWAGGER_UI = f"{SWAGGER_CDN}/npm/swagger-ui-dist@5.35.0"
SWAGGER_SRI = {"swagger-ui-bundle.js": "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9",
               "swagger-ui.css": "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I"}
_docs_csp = API_CSP


def api_error_headers() -> dict[str, str]:
    """What SecurityHeaders adds to an /api/ answer, for the one answer it never sees: an unexpected error's 500,
    which Starlette sends from outside every middleware."""
    return {"Content-Security-Policy": API_CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        csp = APP_CSP if path == "/app" or path.startswith("/app/") else _docs_csp if path == "/docs" else API_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", csp)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if path.startswith("/api/"):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_docs(app: FastAPI) -> None:
    """/docs as FastAPI makes it (create the app with docs_url=None), with a policy allowing exactly its inline
    script (by hash) and the CDN it loads Swagger UI from."""
    global _docs_csp
    page = get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - Swagger UI",
                               swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
                               swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css", swagger_favicon_url="/app/icon.svg")
    body = bytes(page.body)
    for name, sri in SWAGGER_SRI.items():
        url = f'"{SWAGGER_UI}/{name}"'.encode()
        assert body.count(url) == 1, f"Swagger UI's page no longer loads {name} as expected"
        body = body.replace(url, url + f' integrity="{sri}" crossorigin="anonymous"'.encode())
    inline = re.findall(rb"<script>(.*?)</script>", body, flags=re.S)
    hashes = " ".join("'sha256-" + base64.b64encode(hashlib.sha256(s).digest()).decode() + "'" for s in inline)
    _docs_csp = (f"default-src 'none'; script-src {SWAGGER_CDN} {hashes}; style-src {SWAGGER_CDN} 'unsafe-inline'; "
                 f"img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                 f"form-action 'none'; frame-ancestors 'none'")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(body)
