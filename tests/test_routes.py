"""Every request finds one endpoint: no two routes answer the same method and path. api/main.py puts the routes
phones call most (health, sync, uploads) first, since a request is matched against each route in turn; that order
is safe only while this holds."""

import re
from typing import Any

from api.main import create_app

# A value each path parameter's type accepts (Starlette's convertors).
SAMPLES = {"str": "x7", "int": "7", "float": "1.5", "path": "a/b",
           "uuid": "0b7e5a1d-9c2f-4e5a-8d3b-1a2b3c4d5e6f"}


def _endpoints(routes: list[Any]) -> list[tuple[str, str, re.Pattern[str], frozenset[str]]]:
    """(name, path, regex, methods) of every route, inside included routers too."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += _endpoints(inner.routes)
        elif getattr(route, "methods", None):
            found.append((route.name, route.path, route.path_regex, frozenset(route.methods)))
    return found


def _sample(path: str) -> str:
    return re.sub(r"{(\w+)(?::(\w+))?}", lambda m: SAMPLES[m.group(2) or "str"], path)


def test_no_two_routes_answer_the_same_method_and_path() -> None:
    endpoints = _endpoints(create_app().routes)
    assert len(endpoints) > 100  # the walk reached the routers' routes
    clashes = []
    for i, (_, path, regex, methods) in enumerate(endpoints):
        sample = _sample(path)
        assert regex.match(sample), (path, sample)
        others = [(n, p) for j, (n, p, r, m) in enumerate(endpoints) if j != i and m & methods and r.match(sample)]
        if others:
            clashes.append((path, sorted(methods), others))
    assert clashes == []
