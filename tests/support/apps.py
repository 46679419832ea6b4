"""One app per worker for each value of the settings create_app() reads.

FastAPI builds a route's validators on the route's first request, per app: ~5 ms a route, half a second for a
first 404 (it tries every route). A new app for each test paid that again in every test. The app holds no state of
its own (the database engine and settings are looked up per request), so tests share it; a test that changes a
setting create_app() reads gets an app built with it.
"""

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.config import get_settings

_APPS: dict[tuple[object, ...], FastAPI] = {}


def shared_app() -> FastAPI:
    from api.main import create_app

    settings = get_settings()
    key = (settings.sync_max_bytes, settings.webclient_dir)
    if key not in _APPS:
        _APPS[key] = create_app()
    app = _APPS[key]
    # What makes sharing safe, checked: state kept on the app would pass from one test to the next.
    assert not app.state._state, "the app keeps state now: give each test its own app (tests/support/apps.py)"
    return app


def from_address(host: str) -> TestClient:
    """A client of the shared app whose requests come from this address (throttles count per address)."""
    return TestClient(shared_app(), client=(host, 50000), raise_server_exceptions=False)
