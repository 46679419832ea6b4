"""A real `hearken serve` in a subprocess on loopback, for browser and crash tests.

    with LiveServer(tmp_path) as server:
        admin = admin_client(server)
        ...

The port stays the same across stop()/start(), so a browser page keeps its origin (and its
IndexedDB, service worker and caches) while the server goes away and comes back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "admin-password-123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, data_dir: Path, port: int | None = None, env: dict | None = None,
                 start_timeout: float = 30.0):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def env(self) -> dict[str, str]:
        env = {**os.environ, "HEARKEN_DATA_DIR": str(self.data_dir), "HEARKEN_ENVIRONMENT": "test",
               "PYTHONUNBUFFERED": "1"}
        env.update({k: str(v) for k, v in self.extra_env.items()})
        return env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=REPO, env=self.env(),
                              capture_output=True, text=True, timeout=120, check=check)

    def start(self) -> LiveServer:
        if self.proc and self.proc.poll() is None:
            return self
        # `hearken serve` migrates before it listens (a failure shows in the log below).
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child process owns it while it runs)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning"],
            cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hearken serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.api}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"hearken serve did not answer within {self.start_timeout}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def _wait_port_free(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful: SIGTERM (uvicorn finishes what it is doing), SIGKILL if it will not go."""
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self._wait_port_free()

    def kill(self) -> None:
        """SIGKILL the server (and anything it started), as a crash would."""
        if not self.proc or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._wait_port_free()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ensure_admin(server: LiveServer, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    result = server.cli("create-user", "--email", email, "--password", password, "--role", "admin", check=False)
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise RuntimeError(f"create-user failed ({result.returncode}): {result.stderr or result.stdout}")


def login_client(server: LiveServer, email: str, password: str) -> httpx.Client:
    """An httpx client for /api/v1 carrying a fresh session token of this user."""
    r = httpx.post(f"{server.api}/auth/login", json={"email": email, "password": password}, timeout=10)
    r.raise_for_status()
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends: a request sent on one as the server closes
    # it is lost ("Server disconnected without sending a response"), and httpx resends no POST.
    return httpx.Client(base_url=server.api, timeout=30, limits=httpx.Limits(keepalive_expiry=2.0),
                        headers={"Authorization": f"Bearer {r.json()['token']}"})


def admin_client(server: LiveServer) -> httpx.Client:
    """An httpx client with an admin session (the admin is created on first use)."""
    ensure_admin(server)
    return login_client(server, ADMIN_EMAIL, ADMIN_PASSWORD)


def ok(response: httpx.Response) -> dict:
    """The JSON of a 2xx answer; a failing set-up step says what the server said."""
    if response.status_code >= 300:
        raise AssertionError(f"{response.request.method} {response.request.url} -> "
                             f"{response.status_code}: {response.text}")
    return response.json() if response.content else {}
