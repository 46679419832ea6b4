"""One request straight into the ASGI app, header bytes exactly as given.

httpx (under TestClient) re-encodes header values as UTF-8, so a single latin-1 byte such as 0xB2 ("²") never
reaches the app through it; a real client's bytes do. This sends them as they are.
"""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def raw_request(app: Any, method: str, path: str, headers: list[tuple[str, bytes]],
                body: bytes = b"") -> tuple[int, dict[str, str], Any]:
    path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
             "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
             "headers": [(k.lower().encode(), v) for k, v in headers]
             + [(b"host", b"testserver"), (b"content-length", str(len(body)).encode())]}
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            await asyncio.sleep(3600)  # the app stops listening once it has answered
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # In a thread of its own: a browser test earlier on this worker leaves Playwright's event loop running in the
    # main thread, where asyncio.run refuses to start another.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    answer = {k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", [])}
    is_json = answer.get("content-type", "").startswith("application/json")
    return start["status"], answer, json.loads(content) if content and is_json else content
