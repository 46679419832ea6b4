"""The `hearken` command, as an admin with a shell meets it: a command that needs the server's database refuses,
in one line naming it, a database that is missing, empty or at another schema (a scheduled purge run from another
folder made itself a new empty database and said there was nothing to do); a bad setting is named, not a
traceback; the demo, whose accounts share a known password, will not run in production."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.support.live_server import REPO


def hearken(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HEARKEN_")}
    environment.pop("PORT", None)
    environment.update({"HEARKEN_DATA_DIR": str(tmp_path / "data"), **env})
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_a_scheduled_purge_pointed_at_no_database_says_so_and_makes_none(tmp_path) -> None:
    r = hearken(tmp_path, "purge")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "No database at" in r.stderr and str(tmp_path / "data" / "hearken.db") in r.stderr
    assert not (tmp_path / "data" / "hearken.db").exists()


def test_commands_refuse_a_database_at_another_schema(tmp_path) -> None:
    (tmp_path / "data").mkdir()
    sqlite3.connect(tmp_path / "data" / "hearken.db").close()  # an empty file: no tables
    r = hearken(tmp_path, "create-user", "--email", "a@example.org", "--role", "admin", "--password", "x" * 12)
    assert (r.returncode, "Traceback" in r.stderr) == (2, False) and "run `hearken migrate`" in r.stderr
    assert hearken(tmp_path, "migrate").returncode == 0
    assert hearken(tmp_path, "maintain").returncode == 0
    with sqlite3.connect(tmp_path / "data" / "hearken.db") as db:
        db.execute("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")  # rolled back to an older Hearken
    for command in ("purge", "maintain", "worker"):
        r = hearken(tmp_path, command, "--once") if command == "worker" else hearken(tmp_path, command)
        assert (r.returncode, "Traceback" in r.stderr) == (2, False), r.stderr
        assert "newer Hearken" in r.stderr


def test_a_bad_setting_is_named_in_one_line(tmp_path) -> None:
    r = hearken(tmp_path, "migrate", HEARKEN_SESSION_TTL_HOURS="abc")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("HEARKEN_SESSION_TTL_HOURS:")
    r = hearken(tmp_path, "migrate", HEARKEN_DATABASE_URL="notaurl")
    assert (r.returncode, r.stderr.count("\n")) == (2, 1) and "could not be used" in r.stderr


def test_the_demo_will_not_run_in_production(tmp_path) -> None:
    r = hearken(tmp_path, "demo", HEARKEN_ENVIRONMENT="production")
    assert r.returncode == 2 and "known password" in r.stderr
    assert not (tmp_path / "data" / "hearken.db").exists()


def test_serve_says_what_is_wrong_before_it_says_it_is_running(tmp_path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        r = hearken(tmp_path, "serve", "--port", port)
    assert r.returncode == 2 and "Cannot listen on 127.0.0.1:" in r.stderr and "running" not in r.stdout
    r = hearken(tmp_path, "serve", "--port", "99999")
    assert r.returncode == 2 and "not a port" in r.stderr
    r = hearken(tmp_path, "serve", "--workers", "2")
    assert r.returncode == 2 and "SQLite is one writer" in r.stderr
    r = hearken(tmp_path, "serve", "--ssl-certfile", str(tmp_path / "missing.pem"))
    assert r.returncode == 2 and "both --ssl-certfile and --ssl-keyfile" in r.stderr
    r = hearken(tmp_path, "worker", "--interval", "-1")
    assert r.returncode == 2 and "above 0" in r.stderr
    # PORT is serve's default only: an empty or odd one does not break every other command.
    assert hearken(tmp_path, "migrate", PORT="").returncode == 0
    assert hearken(tmp_path, "migrate", PORT="abc").returncode == 0
    r = hearken(tmp_path, "migrate", HEARKEN_SESSION_TTL_HOURS="-5")
    assert r.returncode == 2 and r.stderr.startswith("HEARKEN_SESSION_TTL_HOURS:")
