"""The `hearken` command: serve, migrate, create-user, demo, worker, bench."""

import argparse
import getpass
import os
import socket
import subprocess
import sys
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import exc as sa_exc

REPO = Path(__file__).resolve().parent.parent


def migrate(url: str | None = None) -> None:
    """Bring the database to the newest schema (`alembic upgrade head`)."""
    from alembic import command
    from alembic.config import Config

    from api.config import get_settings

    settings = get_settings()
    if not url and not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    cfg = Config(str(REPO / "alembic.ini"))
    if url:
        cfg.attributes["url"] = url
    command.upgrade(cfg, "head")


class Refused(Exception):
    """A command that cannot go on, with the one line that says why (exit status 2, no traceback)."""


def require_schema() -> None:
    """For a command that works on a database someone has set up (all but serve, migrate and demo, which migrate
    it): refuse one that is missing, empty, or at another schema than this code's, naming it. A scheduled purge
    run from another folder had made itself a new empty database and reported nothing to do."""
    import sqlalchemy as sa
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from api.config import get_settings

    url = get_settings().resolved_database_url()
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:") \
            and not Path(url.removeprefix("sqlite:///")).exists():
        raise Refused(f"No database at {shown}: set HEARKEN_DATA_DIR (an absolute path) or HEARKEN_DATABASE_URL to "
                      "the server's, or run `hearken migrate` to make a new one.")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    scripts = ScriptDirectory.from_config(Config(str(REPO / "alembic.ini")))
    if current == scripts.get_current_head():
        return
    if current is None:
        raise Refused(f"{shown} holds no Hearken tables: run `hearken migrate` first (or point HEARKEN_DATA_DIR / "
                      "HEARKEN_DATABASE_URL at the server's database).")
    try:
        scripts.get_revision(current)
    except CommandError:
        raise Refused(f"{shown} was migrated by a newer Hearken (schema {current}): run that version.") from None
    raise Refused(f"{shown} is at an older schema ({current}): run `hearken migrate` first.")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api import maintenance
    from api.config import get_settings

    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise Refused("HTTPS needs both --ssl-certfile and --ssl-keyfile.")
    for path in (args.ssl_certfile, args.ssl_keyfile):
        if path and not os.access(path, os.R_OK):
            raise Refused(f"Cannot read {path}.")
    if args.workers > 1 and get_settings().resolved_database_url().startswith("sqlite"):
        # One writer, and the erasure guarantee (WAL truncated right after a withdrawal) assumes one process.
        raise Refused("SQLite is one writer: serve it with one worker, or use PostgreSQL (HEARKEN_DATABASE_URL).")
    try:  # say so now, not after "Hearken is running at …"
        socket.create_server((args.host, args.port)).close()
    except OSError as exc:
        raise Refused(f"Cannot listen on {args.host}:{args.port}: {exc.strerror}.") from None
    migrate()
    # All background work (media, compaction, webhooks, statistics, purge: api/maintenance.py) runs once, in this
    # process, however many workers answer requests; the app's own webhook thread is then not wanted (the workers
    # inherit the environment; with one worker the app runs in this process and reads the same setting).
    maintenance.start()
    os.environ["HEARKEN_WEBHOOK_WORKER"] = "false"
    get_settings.cache_clear()
    ssl = {}
    if args.ssl_certfile:
        ssl = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile}
    scheme = "https" if ssl else "http"
    print(f"Hearken is running at {scheme}://{args.host}:{args.port}/  (web client at /app/, API docs at /docs)",
          flush=True)
    uvicorn.run("api.main:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level, **ssl)
    return 0


def _create_user(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from api.db import open_session
    from api.people import service as people
    from api.people.models import User, UserCreate
    from api.projects.models import Membership, Project, Role

    password = args.password or os.environ.get("HEARKEN_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            print("Give --password (or HEARKEN_PASSWORD) when not at a terminal.", file=sys.stderr)
            return 2
        password = getpass.getpass("Password (10 characters or more): ")
    try:
        data = UserCreate(email=args.email, password=password, display_name=args.name or "",
                          is_admin=args.role == "admin")
    except ValidationError as exc:
        print("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors()), file=sys.stderr)
        return 2
    with open_session() as session:
        if session.exec(select(User).where(User.email == data.email)).first():
            print(f"A user with the email {data.email} already exists.", file=sys.stderr)
            return 1
        user = people.create_user(session, None, data)
        if args.role != "admin" and args.project:
            project = session.exec(select(Project).where(Project.name == args.project)).first()
            if project is None:
                print(f"No project called {args.project!r}.", file=sys.stderr)
                return 1
            session.add(Membership(project_id=project.id, user_id=user.id, role=Role(args.role)))
        session.commit()
        print(f"Created {args.role} {user.email} ({user.id}).")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from api.config import get_settings
    from api.demo import seed

    if get_settings().environment == "production":
        # Its accounts (an admin among them) share one password, printed in the README: a door on a real server.
        raise Refused("The demo makes accounts that share one known password, an admin among them: not on a server "
                      "with HEARKEN_ENVIRONMENT=production.")
    migrate()
    print(seed(password=args.password))
    return 0


def _media(args: argparse.Namespace) -> int:
    from api.media import service as media

    result = media.maintain(args.abandoned_days)
    print(f"Erased {result['erased']} queued audio file(s); {result['still_queued']} still queued "
          f"(the store did not answer); forgot {result['abandoned_uploads']} abandoned upload(s); deleted "
          f"{result['partial_files_deleted']} partial file(s) of uploads gone.")
    return 1 if result["still_queued"] else 0


def _maintain(args: argparse.Namespace) -> int:
    from api import maintenance

    result = maintenance.maintain()
    print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in result.items()))
    return 1 if result["still_queued"] else 0


def _worker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from api.config import get_settings
    from api.webhooks.worker import Worker

    worker = Worker()
    try:
        if args.once:
            count = worker.run_once()
            print(f"Tried {count} webhook deliveries.")
            return 0
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        print("Delivering webhooks; stop with Ctrl-C.", flush=True)
        worker.run(stop, args.interval or get_settings().webhook_worker_seconds)
    finally:
        worker.close()
    return 0


def _purge(args: argparse.Namespace) -> int:
    """Erase everything past its project's retention period, a chunk per transaction, and say what was done."""
    from api.fragments import retention

    projects = retention.purge_all(dry_run=args.dry_run)
    for project, report in projects:
        verb = "would erase" if args.dry_run else "erased"
        print(f"{project.name}: {verb} {report.fragments_erased} fragments and {report.signatures_erased} signatures "
              f"captured before {report.cutoff:%Y-%m-%d} ({project.retention_days} days' retention)")
    if not projects:
        print("No project has a retention period; nothing to do.")
    elif not args.dry_run:
        from api.db import get_engine
        from api.fragments import compaction

        compaction.compact(get_engine())  # the erased words out of the files too, before the command ends
    return 0


def _compact_erased(args: argparse.Namespace) -> int:
    """Clean erased words out of the database files now (see api/fragments/compaction.py)."""
    from api.db import get_engine
    from api.fragments import compaction

    engine = get_engine()
    if compaction.compact(engine, force=args.force):
        print("SQLite: search index merged, WAL truncated." if engine.dialect.name == "sqlite" else
              "PostgreSQL: VACUUM FULL of " + ", ".join(compaction.ERASED_TABLES) + ".")
    else:
        print("No erasure since the last compaction (or another process is compacting); --force runs it anyway.")
    return 0


def _bench(args: argparse.Namespace) -> int:
    return subprocess.call([sys.executable, str(REPO / "scripts" / "bench.py"), *args.rest])


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (1 to 65535; PORT sets the default)")
    return int(value)


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return int(value)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds above 0")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hearken", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="migrate, then serve the API and the web client")
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    p.add_argument("--port", type=_port, default=os.environ.get("PORT") or "8000")
    p.add_argument("--workers", type=_positive, default=1)
    p.add_argument("--log-level", default="info")
    p.add_argument("--ssl-certfile", help="serve HTTPS (phones need it for offline use)")
    p.add_argument("--ssl-keyfile")
    p.set_defaults(func=_serve)

    p = sub.add_parser("migrate", help="bring the database to the newest schema")
    p.set_defaults(func=lambda a: migrate() or 0)

    p = sub.add_parser("create-user", help="create a user (the first admin, say)")
    p.add_argument("--email", required=True)
    p.add_argument("--role", choices=["admin", "coordinator", "researcher"], required=True)
    p.add_argument("--password", help="prompted for when left out")
    p.add_argument("--name", help="display name")
    p.add_argument("--project", help="add a coordinator or researcher to this project (by name)")
    p.set_defaults(func=_create_user)

    p = sub.add_parser("demo", help="seed a realistic demo project to look around in")
    p.add_argument("--password", default="hearken-demo", help="password of every demo account")
    p.set_defaults(func=_demo)

    p = sub.add_parser("media-maintenance", help="retry queued erasures of audio bytes and clean abandoned uploads "
                       "(hearken serve does this every minute)")
    p.add_argument("--abandoned-days", type=int, help="forget unfinished uploads older than this (default: 7)")
    p.set_defaults(func=_media)

    p = sub.add_parser("worker", help="deliver webhooks (for set-ups that serve with HEARKEN_WEBHOOK_WORKER=false; "
                       "any number may run)")
    p.add_argument("--interval", type=_seconds, help="seconds between looks when idle (default: 2)")
    p.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    p.set_defaults(func=_worker)

    p = sub.add_parser("purge", help="erase what is past each project's retention period (safe on a schedule)")
    p.add_argument("--dry-run", action="store_true", help="say what would be erased, erase nothing")
    p.set_defaults(func=_purge)

    p = sub.add_parser("maintain", help="scheduled upkeep once: media (as media-maintenance) and planner "
                       "statistics (ANALYZE); hearken serve runs it on a timer")
    p.set_defaults(func=_maintain)

    p = sub.add_parser("compact-erased", help="clean erased words out of the database files now (SQLite: merge "
                       "the search index; PostgreSQL: VACUUM FULL of the erased tables; the server does it on its own)")
    p.add_argument("--force", action="store_true", help="run even with no erasure since the last compaction")
    p.set_defaults(func=_compact_erased)

    p = sub.add_parser("bench", help="run scripts/bench.py")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_bench)

    args = parser.parse_args(argv)
    import api.models  # noqa: F401  (every table known before the first query, whatever the command)

    try:
        if args.func not in (_serve, _demo, _bench) and args.command != "migrate":
            require_schema()
        return int(args.func(args) or 0)
    except Refused as exc:
        print(exc, file=sys.stderr)
        return 2
    except (sa_exc.OperationalError, sa_exc.ArgumentError) as exc:
        # A database that is not there, refuses us, or a URL that is not one: its first line, no traceback.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"The database could not be used (HEARKEN_DATABASE_URL, HEARKEN_DATA_DIR): {reason}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        for error in exc.errors():  # a HEARKEN_* variable that is not a valid value: name it, no traceback
            print(f"HEARKEN_{str(error['loc'][0]).upper()}: {error['msg']}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
