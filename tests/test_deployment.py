"""compose.yaml, checked where Docker cannot run it: the services a deployment needs, wired as Hearken reads them."""

import re
from pathlib import Path

import yaml

from api.config import Settings

COMPOSE = Path(__file__).resolve().parent.parent / "compose.yaml"


def _substituted(value: str) -> str:
    # ${NAME:?message} and ${NAME} as docker compose fills them, with a stand-in secret.
    return re.sub(r"\$\{[A-Z_]+(:\?[^}]*)?\}", "s3cret-value", value)


def test_compose_runs_hearken_with_two_workers_on_postgresql_and_minio() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"db", "minio", "bucket", "hearken"} <= set(services)
    app = services["hearken"]
    command = app["command"]
    assert command[:2] == ["hearken", "serve"] and command[command.index("--workers") + 1] == "2"
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["depends_on"]["bucket"]["condition"] == "service_completed_successfully"
    env = {k: _substituted(str(v)) for k, v in app["environment"].items()}
    fields = {f"HEARKEN_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, f"settings Hearken does not read: {set(env) - fields}"
    settings = Settings(**{k.removeprefix("HEARKEN_").lower(): v for k, v in env.items()})
    assert settings.resolved_database_url().startswith("postgresql+psycopg://hearken:")
    assert settings.resolved_database_url().endswith("@db:5432/hearken")
    assert settings.media_backend == "s3" and settings.s3_endpoint_url == "http://minio:9000"
    # The bucket Hearken writes to is the one the set-up step makes, with the credentials MinIO starts with.
    assert settings.s3_bucket in services["bucket"]["entrypoint"][-1]
    assert settings.s3_access_key_id == services["minio"]["environment"]["MINIO_ROOT_USER"]
    secret = re.compile(r"^\$\{HEARKEN_S3_SECRET[:}]")
    assert secret.match(services["minio"]["environment"]["MINIO_ROOT_PASSWORD"])
    assert secret.match(app["environment"]["HEARKEN_S3_SECRET_ACCESS_KEY"])
    assert services["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${HEARKEN_DB_PASSWORD")
