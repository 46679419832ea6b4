"""Security headers: a strict Content-Security-Policy for the web client, one that fits Swagger UI on /docs, nothing
may frame any page, no referrer leaves, and no /api/ answer is kept by a cache."""

import base64
import hashlib
import re

import pytest
from sqlmodel import Session

from tests.factories import World, capture_batch, make_world, sync

COMMON = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def directives(csp: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}


def assert_common(r) -> None:  # type: ignore[no-untyped-def]
    for name, value in COMMON.items():
        assert r.headers.get(name) == value, (r.request.url, name)
    assert directives(r.headers["Content-Security-Policy"])["frame-ancestors"] == ["'none'"]


def test_the_web_client_gets_a_strict_policy(client) -> None:
    r = client.get("/app/")
    assert r.status_code == 200
    assert_common(r)
    csp = directives(r.headers["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
    assert_common(client.get("/app/src/app.js"))


def test_docs_allow_exactly_their_inline_script_and_the_cdn(client) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and "SwaggerUIBundle" in r.text
    assert_common(r)
    script_src = directives(r.headers["Content-Security-Policy"])["script-src"]
    inline = re.findall(r"<script>(.*?)</script>", r.text, flags=re.S)
    assert inline
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert client.get("/openapi.json").status_code == 200
    # Its files come from the CDN pinned to one version and checked (SRI): a changed file is refused, not run here.
    loaded = re.findall(r'<(?:script|link)[^>]*(?:src|href)="(https://[^"]+)"([^>]*)>', r.text)
    assert len(loaded) == 2 and all("@5." in url and 'integrity="sha384-' in rest and "crossorigin" in rest
                                    for url, rest in loaded), loaded


def test_api_answers_carry_no_store_and_etags_still_work(client, world) -> None:
    items = capture_batch(world, 1, text="words of a person")
    sync(client, world, items)
    h = world.headers("coordinator")
    fid = items[2]["id"]
    read = client.get(f"/api/v1/fragments/{fid}", headers=h)
    assert read.status_code == 200 and read.headers["Cache-Control"] == "no-store"
    assert_common(read)
    assert directives(read.headers["Content-Security-Policy"])["default-src"] == ["'none'"]
    again = client.get(f"/api/v1/fragments/{fid}", headers={**h, "If-None-Match": read.headers["ETag"]})
    assert again.status_code == 304
    for url in (f"/api/v1/fragments?project_id={world.project.id}", f"/api/v1/consents/{items[1]['id']}",
                f"/api/v1/projects/{world.project.id}/export/fragments.csv",
                f"/api/v1/projects/{world.project.id}/export/fragments.jsonl",
                f"/api/v1/projects/{world.project.id}/subject-access?label=P-4KQ7", "/api/v1/changes?after=0"):
        r = client.get(url, headers=h)
        assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store", url
    refused = client.get(f"/api/v1/fragments/{fid}")
    assert refused.status_code == 401 and refused.headers["Cache-Control"] == "no-store"
    assert_common(refused)


def test_an_unexpected_error_carries_the_same_headers(client, world, monkeypatch) -> None:
    """A 500 is sent from outside every middleware: it once came with no policy and no no-store."""
    from api.fragments import service

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")

    monkeypatch.setattr(service, "list_fragments", broken)
    r = client.get(f"/api/v1/fragments?project_id={world.project.id}", headers=world.headers("coordinator"))
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    assert_common(r)
    assert r.headers["Cache-Control"] == "no-store"
