"""What each server process does as it starts, before its first request."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

STARTED = """
import gc
from fastapi.testclient import TestClient
from api.main import create_app
before = gc.get_freeze_count()
with TestClient(create_app()):
    print(before, gc.get_freeze_count())
"""


def test_startup_takes_the_built_app_out_of_the_collectors_sight(tmp_path: Path) -> None:
    # A full garbage collection then walks what requests made, not the whole app: at a million fragments the
    # overview's p95 went from 126 ms to 33 ms (scripts/bench_scale.py --queries shows its p95).
    env = {**os.environ, "HEARKEN_DATA_DIR": str(tmp_path), "HEARKEN_WEBHOOK_WORKER": "false"}
    env.pop("HEARKEN_DATABASE_URL", None)
    out = subprocess.run([sys.executable, "-c", STARTED], cwd=REPO, env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    before, after = (int(x) for x in out.stdout.split())
    assert before == 0
    assert after > 50_000  # modules, routes and schemas: ~110k objects when measured
