"""What the server logs never holds a participant's words: a failed statement's message keeps its values out."""

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine


def test_a_database_error_never_carries_the_statements_values(engine: Engine) -> None:
    words = f"she told me about the gate {uuid.uuid4().hex}"
    with pytest.raises(sa.exc.IntegrityError) as failed, engine.begin() as conn:
        # No project, no conversation: refused by the database, with the words among the values.
        conn.execute(sa.text("INSERT INTO fragments (id, text) VALUES (:id, :text)"),
                     {"id": uuid.uuid4().hex, "text": words})
    # (PostgreSQL's own message may still quote the refused row: the log keeps it out, see the next test.)
    assert "hidden" in str(failed.value) and "[parameters:" not in str(failed.value)


def test_a_logged_database_error_keeps_its_type_and_statement_but_not_the_refused_row(engine: Engine) -> None:
    """PostgreSQL's message quotes the row it refused ("Failing row contains (…)"): the words must not reach a log."""
    import io
    import logging

    from api import logs

    logs.install()
    words = f"she told me about the gate {uuid.uuid4().hex}"
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("hearken.test-private-logs")
    log.addHandler(handler)
    try:
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO fragments (id, text) VALUES (:id, :text)"),
                             {"id": uuid.uuid4().hex, "text": words})
        except sa.exc.IntegrityError:
            log.exception("unhandled error on POST /api/v1/sync")
    finally:
        log.removeHandler(handler)
    logged = out.getvalue()
    assert "unhandled error on POST /api/v1/sync" in logged and "IntegrityError" in logged
    assert "INSERT INTO fragments" in logged and logs.WITHHELD in logged
    assert words not in logged and "gate" not in logged
