"""Property: whatever the consents, scopes, flags, audience and withdrawals, no card in any pack, board, PDF or
report shows what its consent or audience forbids, nor a participant label. The expected cards are worked out
here from the rule as the issue states it, independently of api/workshops/cards.py."""

import io
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from tests.factories import make_world
from tests.workshops.helpers import add, capture, make_workshop, set_state

SCOPES = ["audio", "quote", "share", "publish"]

fragment_spec = st.fixed_dictionaries({
    "scopes": st.lists(st.sampled_from(SCOPES), unique=True, max_size=4),
    "quote": st.booleans(),
    "sensitive": st.booleans(),
    "include": st.booleans(),
    "withdraw": st.booleans(),
    "narrow_to": st.none() | st.lists(st.sampled_from(SCOPES), unique=True, max_size=4),
})


def allowed(spec: dict[str, Any], audience: str) -> bool:
    scopes = set(spec["final_scopes"])
    if spec["withdraw"] or (spec["kind"] == "quote" and "quote" not in scopes):
        return False
    if audience == "mixed" and "share" not in scopes:
        return False
    if audience == "public" and ("publish" not in scopes or spec["sensitive"]):
        return False
    return not spec["sensitive"] or spec["include"]


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(specs=st.lists(fragment_spec, min_size=1, max_size=6), audience=st.sampled_from(["project", "mixed", "public"]))
def test_no_view_shows_what_consent_or_audience_forbids(client, session, specs, audience) -> None:
    world = make_world(session)
    h = world.headers("coordinator")
    ids = []
    for n, spec in enumerate(specs):
        spec["kind"] = "quote" if spec["quote"] and "quote" in spec["scopes"] else "paraphrase"
        fid, cid = capture(client, world, scopes=spec["scopes"], kind=spec["kind"], text=f"words-{n}-x",
                           sensitive=spec["sensitive"], label=f"P-Q{n:03d}")
        spec.update(fid=fid, cid=cid, final_scopes=spec["scopes"])
        ids.append(fid)
    w = make_workshop(client, world, audience)
    add(client, world, w["id"], ids)
    for spec in specs:
        if spec["include"] and spec["sensitive"]:
            client.put(f"/api/v1/workshops/{w['id']}/pack/{spec['fid']}/sensitive", json={"include": True}, headers=h)
    froze = set_state(client, world, w["id"], "ready").status_code == 200
    for spec in specs:  # after printing: consents narrowed or withdrawn
        if spec["narrow_to"] is not None and set(spec["narrow_to"]) <= set(spec["scopes"]):
            r = client.patch(f"/api/v1/consents/{spec['cid']}", json={"scopes": spec["narrow_to"]},
                             headers={**h, "If-Match": '"1"'})
            assert r.status_code == 200, r.text
            spec["final_scopes"] = spec["narrow_to"]
        if spec["withdraw"]:
            assert client.post(f"/api/v1/consents/{spec['cid']}/withdraw", json={}, headers=h).status_code == 200
    expected = {f"words-{n}-x" for n, spec in enumerate(specs) if allowed(spec, audience)}
    pack = client.get(f"/api/v1/workshops/{w['id']}/pack", headers=h).json()
    # The pack page shows the coordinator the words of a sensitive fragment left out, to decide on including it:
    # only those that including would make cards (never a withdrawn one, nor one its consent or audience forbids).
    to_decide = {f"words-{n}-x" for n, spec in enumerate(specs)
                 if not allowed(spec, audience) and allowed({**spec, "include": True}, audience)}
    assert {x["text"] for x in pack["left_out_items"] if x["text"]} == to_decide, (pack["left_out_items"], specs)
    assert "P-Q" not in json.dumps(pack) and "hard" not in json.dumps(pack)
    views: dict[str, str] = {
        "pack": json.dumps(pack["cards"]),
        "board": client.get(f"/api/v1/workshops/{w['id']}/board", headers=h).text,
        "report": client.get(f"/api/v1/workshops/{w['id']}/report", headers=h).text,
    }
    if froze:
        joined = client.post("/api/v1/join", json={"code": w["short_code"]})
        if joined.status_code == 201:
            views["guest board"] = client.get("/api/v1/board",
                                              headers={"Authorization": f"Bearer {joined.json()['token']}"}).text
        pdf = client.get(f"/api/v1/workshops/{w['id']}/cards.pdf", headers=h)
        views["pdf"] = "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf.content)).pages)
    for name, text in views.items():
        shown = set(re.findall(r"words-\d+-x", text))
        if name == "report":  # the report lists themed cards only; none are themed here
            assert shown <= expected, (name, shown - expected)
        else:
            assert shown == expected, (name, shown, expected, specs)
        assert "P-Q" not in text, name
        assert "hard" not in text, name  # the self-signification answers
