"""What any request may carry: the shared field types every body, query and header goes through.

One place decides what text, instants, booleans and numbers the server accepts, so every endpoint refuses
the same bad input the same way (a 4xx, never a 500 on one database and not the other):

- `Text`: no control characters but tab, newline and carriage return. PostgreSQL cannot store NUL at all,
  and the others are never typed by a person; a carriage return is kept because pasted Windows text has it.
- `Instant`: an ISO 8601 time with its offset, between 2000-01-01 and 2100-01-01 UTC. Years near 1 or 9999
  overflow when moved to UTC, and nothing this service records happened outside that range.
- `StrictBool`: JSON `true` or `false` only; `0`, `1`, `"yes"` are refused, not guessed. `QueryBool`: the same in a
  query string, `true` or `false` (FastAPI's bool also takes `yes`, `on`, `1`).
- `ascii_int`: a whole number in a header or cursor, ASCII digits only (`"²".isdigit()` is true, `int("²")` fails).
"""

import re
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import unquote_plus

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StrictBool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["EARLIEST", "LATEST", "Instant", "QueryBool", "StrictBool", "Text", "ascii_int", "check_text",
           "RefuseControlChars"]

ALLOWED_CONTROLS = frozenset("\t\n\r")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


# Unicode's category Cc is exactly C0, DEL and C1 (fixed by the standard), Cs the surrogates: one character class,
# searched in C, instead of a category lookup per character (every fragment's text passes here).
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def control_char(text: str) -> str | None:
    """The first control character (Unicode category Cc: C0, DEL, C1) other than tab, newline or CR, or a lone
    surrogate (Cs), which cannot be stored as UTF-8 either."""
    found = _REFUSED.search(text)
    return found.group() if found else None


def check_text(text: str) -> str:
    ch = control_char(text)
    if ch is not None:
        raise ValueError(f"text may not hold control characters (found U+{ord(ch):04X})")
    return text


def check_instant(value: datetime) -> datetime:
    try:
        inside = EARLIEST <= value < LATEST
    except OverflowError:
        inside = False
    if not inside:
        raise ValueError("times must lie between 2000-01-01 and 2100-01-01 (UTC)")
    return value.astimezone(UTC)


def check_query_bool(value: object) -> object:
    if isinstance(value, str) and value not in ("true", "false"):
        raise ValueError("a yes/no parameter is `true` or `false`")
    return value


Text = Annotated[str, AfterValidator(check_text)]
QueryBool = Annotated[bool, BeforeValidator(check_query_bool)]
Instant = Annotated[AwareDatetime, AfterValidator(check_instant)]


def ascii_int(raw: str | None, max_digits: int = 18) -> int | None:
    """A non-negative whole number written in ASCII digits, or None for anything else."""
    if raw is None or not raw or len(raw) > max_digits or not raw.isascii() or not raw.isdigit():
        return None
    return int(raw)


class RefuseControlChars:
    """422 for a query string or path holding a control character, before any route reads it.

    Query parameters reach SQL (q=, label=, action= …) in many places; refusing here covers every one of
    them, present and future, with the same rule as `Text`.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = unquote_plus(scope.get("query_string", b"").decode("latin-1"), errors="replace")
            where = "query" if control_char(query) else "path" if control_char(scope.get("path", "")) else None
            if where:
                response = JSONResponse({"code": "validation_error",
                                         "detail": f"The {where} holds a control character; remove it."},
                                        status_code=422)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
