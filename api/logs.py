"""The access log never carries a query string: `q=` holds search words, `label=` a participant's label, and other
parameters ids a log has no need of. Paths stay (ids only); what follows `?` is dropped."""

import logging


class DropQueryStrings(logging.Filter):
    """For uvicorn's access logger, whose records carry (client, method, path with query, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def install() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, DropQueryStrings) for f in access.filters):
        access.addFilter(DropQueryStrings())
