"""Contract: schemathesis against the OpenAPI document of a live server, as each kind of caller. No 5xx, and
every response matches what the document says: status codes, content types and bodies.

The checks are the contract's: no server error; status codes, content types, headers and bodies as
documented. Left out are the checks that hold the API to things a schema cannot say (that an opaque cursor,
a record's version in If-Match or a search with no words be accepted because their type is right), and
Starlette's `Allow` header on 405, which names only the first route of a path.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live_server import LiveServer, admin_client, login_client, ok

pytestmark = pytest.mark.slow
EXAMPLES = os.environ.get("HEARKEN_CONTRACT_EXAMPLES", "3")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance," \
         "response_headers_conformance"
ST = Path(sys.executable).with_name("st")
# The coverage phase (every boundary value of every parameter: ~4,800 requests, half a minute a caller) runs for the
# admin, whom every permission check lets through to every handler, and for the researcher, whose listings and sync
# take other paths (their own records only). A coordinator reaches the admin's handlers by the admin's paths; no
# token is refused everywhere and a tool's token everywhere but the pull API, before a handler reads its input. The
# other phases (examples, fuzzing, stateful) run for every caller.
SHALLOW_CALLERS = {"coordinator", "client", "anonymous"}


@pytest.fixture
def live(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A server for each caller's run (a few seconds to start), so the five runs, minutes each, spread over the
    test workers instead of queueing behind one shared server. Long polls held for up to 30 s would make most of
    the run waiting; the contract is the same at 0.2 s."""
    with LiveServer(tmp_path_factory.mktemp("contract"), env={"HEARKEN_LONG_POLL_MAX_SECONDS": "0.2"}) as server:
        yield server


@pytest.fixture
def tokens(live: LiveServer) -> dict[str, str]:
    admin = admin_client(live)
    project = ok(admin.post("/projects", json={"name": "Contract"}))
    out = {"admin": admin.headers["Authorization"].split()[1], "anonymous": ""}
    for role in ("coordinator", "researcher"):
        user = ok(admin.post("/users", json={"email": f"{role}@example.org", "password": "contract-password"}))
        ok(admin.put(f"/projects/{project['id']}/members/{user['id']}", json={"role": role}))
        out[role] = login_client(live, f"{role}@example.org", "contract-password").headers["Authorization"].split()[1]
    client = ok(admin.post(f"/projects/{project['id']}/clients", json={
        "name": "contract", "scopes": ["fragments:read", "changes:read", "tags:read", "export", "webhooks"],
        "rate_limit_per_minute": 100_000}))
    out["client"] = client["token"]
    return out


@pytest.mark.parametrize("role", ["admin", "coordinator", "researcher", "client", "anonymous"])
def test_every_endpoint_keeps_its_contract(live: LiveServer, tokens: dict[str, str], role: str,
                                           tmp_path: Path) -> None:
    command = [str(ST), "run", f"{live.url}/openapi.json", "--max-examples", EXAMPLES, "--generation-deterministic",
               "--checks", CHECKS, "--request-timeout", "45",
               # Logging out would end the session every other request of this run is made with.
               "--exclude-path", "/api/v1/auth/logout"]
    if tokens[role]:
        command += ["--header", f"Authorization: Bearer {tokens[role]}"]
    if role in SHALLOW_CALLERS:
        command += ["--phases", "examples,fuzzing,stateful"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-6000:]
