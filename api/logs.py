"""What the server logs never holds a participant's words.

- The access log never carries a query string: `q=` holds search words, `label=` a participant's label, and other
  parameters ids a log has no need of. Paths stay (ids only); what follows `?` is dropped.
- A database error is logged with its type, its SQLSTATE and its statement, not its message: PostgreSQL's message
  may quote the row it refused ("Failing row contains (…)"), a fragment's text among it. (The statement's values
  are never in it either: the engine hides them, api/db.py.)
"""

import logging
import traceback
from typing import Any

import sqlalchemy as sa

WITHHELD = "message withheld: it may hold a row's values"


class DropQueryStrings(logging.Filter):
    """For uvicorn's access logger, whose records carry (client, method, path with query, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def redact_database_error(record: logging.LogRecord) -> None:
    """Give a record whose exception is (or was caused by) a database error a traceback without that message."""
    if not record.exc_info or record.exc_info[1] is None:
        return
    exc: BaseException | None = record.exc_info[1]
    while exc is not None and not isinstance(exc, sa.exc.DBAPIError):
        exc = exc.__cause__ or exc.__context__
    if exc is None:
        return
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    statement = " ".join(str(exc.statement or "").split())[:500]
    record.exc_text = ("Traceback (most recent call last):\n" + "".join(traceback.format_tb(record.exc_info[2]))
                       + f"{type(exc).__module__}.{type(exc).__qualname__}: {type(orig).__name__} ({code}) "
                       + f"[SQL: {statement}] ({WITHHELD})")


def install() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, DropQueryStrings) for f in access.filters):
        access.addFilter(DropQueryStrings())
    # At the making of every record, whichever logger (ours, uvicorn's, a library's) and whichever handler.
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_database_error(record)
        return record

    factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
