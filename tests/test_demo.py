"""`hearken demo` gives a new user something real to look at, made through the real capture rules."""

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from api.demo import seed


def test_demo_seeds_a_realistic_project_once(engine: Engine) -> None:
    message = seed(password="demo-password-1")
    assert "Seeded" in message
    with engine.connect() as conn:
        fragments = conn.execute(sa.text("SELECT count(*) FROM fragments WHERE status = 'active'")).scalar_one()
        tagged = conn.execute(sa.text("SELECT count(DISTINCT fragment_id) FROM fragment_tags")).scalar_one()
        places = conn.execute(sa.text("SELECT count(*) FROM places")).scalar_one()
        quotes_without_scope = conn.execute(sa.text(
            "SELECT count(*) FROM fragments f JOIN consents c ON c.id = f.consent_id "
            "WHERE f.kind = 'quote' AND NOT c.scope_quote")).scalar_one()
        tags = conn.execute(sa.text("SELECT count(*) FROM tags")).scalar_one()
        followed = conn.execute(sa.text("SELECT count(*) FROM changes WHERE entity = 'tag'")).scalar_one()
    assert fragments >= 200 and tagged >= 100 and places == 2
    assert quotes_without_scope == 0
    assert tags > 0 and followed == tags  # a tool following the feed gets the codebook its fragments' tag_ids name
    assert "already exists" in seed(password="demo-password-1")
