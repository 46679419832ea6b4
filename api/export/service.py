"""Exports: CSV, JSON Lines and REFI-QDA (.qdpx) of any filtered selection, streamed in constant memory.

Rows are read a keyset page at a time, each page in its own short read, and written out as they come:
a million rows never sit in memory together. What an export includes follows the caller's rights, and a
partner or public export only what consent allows (`share`, `publish`).
"""

import csv
import io
import json
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sqlmodel import Session, col, select

from api.clients.deps import ClientActor, Reader
from api.clients.models import Audience, ClientScope
from api.consent.models import Consent, Participant
from api.db import open_session
from api.errors import Forbidden, NotFound
from api.fragments import service as fragments
from api.fragments.models import Fragment, FragmentStatus
from api.memos import service as memos
from api.projects import service as projects
from api.projects.models import Place, Project, Prompt
from api.tags import codebook
from api.tags.models import FragmentTag, Tag

PAGE = 1000
CSV_COLUMNS = ["id", "captured_at", "place", "prompt", "kind", "language", "text", "sensitive", "tags", "answers",
               "conversation_id", "consent_id", "participant_label"]


def check_access(session: Session, reader: Reader, project_id: uuid.UUID, q: str | None) -> Project:
    """Everything that could refuse an export is checked here, before the first byte is streamed."""
    if q is not None:
        fragments.search_words(q)
    if isinstance(reader, ClientActor):
        reader.require(ClientScope.export)
        if reader.client.project_id != project_id:
            raise NotFound("No such project.")
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound("No such project.")
        return project
    project, role = projects.get_project(session, reader, project_id)
    if not projects.is_manager(role):
        raise Forbidden("Only the project's coordinators export.")
    return project


def _pages(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None) -> Iterator[list[Fragment]]:
    cursor: str | None = None
    while True:
        with open_session(read_only=True) as session:
            rows, cursor = fragments.list_fragments(session, reader, project_id=project_id, q=q, cursor=cursor,
                                                    limit=PAGE, filters={**filters, "status": FragmentStatus.active},
                                                    client_scope=ClientScope.export)
            yield rows
        if cursor is None:
            return


class _Names:
    """The small lookups an export row needs: place and prompt names, tag names, participant labels."""

    def __init__(self, project_id: uuid.UUID):
        with open_session(read_only=True) as session:
            self.places = {p.id: p.name for p in session.exec(select(Place).where(Place.project_id == project_id))}
            self.prompts = {p.id: p.text for p in session.exec(select(Prompt).where(Prompt.project_id == project_id))}
            self.tags = {t.id: t for t in session.exec(select(Tag).where(Tag.project_id == project_id))}

    @staticmethod
    def extras(rows: list[Fragment]) -> tuple[dict[uuid.UUID, list[uuid.UUID]], dict[uuid.UUID, str]]:
        ids = [f.id for f in rows]
        tags: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
        with open_session(read_only=True) as session:
            for fid, tid in session.exec(select(FragmentTag.fragment_id, FragmentTag.tag_id)
                                         .where(col(FragmentTag.fragment_id).in_(ids))):
                tags[fid].append(tid)
            consent_ids = {f.consent_id for f in rows}
            labels = dict(session.exec(select(Consent.id, Participant.label)
                                       .join(Participant, Participant.id == Consent.participant_id)  # type: ignore[arg-type]
                                       .where(col(Consent.id).in_(consent_ids))).all())
        return tags, labels


def _shows_labels(reader: Reader) -> bool:
    # Participant labels are pseudonymous, but only the project's own team needs them.
    return not isinstance(reader, ClientActor) or reader.client.audience == Audience.internal


def _record(f: Fragment, names: _Names, tags: list[uuid.UUID], label: str | None) -> dict[str, Any]:
    return {"id": str(f.id), "captured_at": f.captured_at.isoformat(), "place": names.places.get(f.place_id),
            "prompt": names.prompts.get(f.prompt_id), "kind": f.kind, "language": f.language, "text": f.text,
            "sensitive": f.sensitive, "tags": sorted(names.tags[t].name for t in tags if t in names.tags),
            "answers": f.answers, "conversation_id": str(f.conversation_id), "consent_id": str(f.consent_id),
            "participant_label": label}


def records(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None) -> Iterator[dict[str, Any]]:
    names = _Names(project_id)
    labels_ok = _shows_labels(reader)
    for rows in _pages(reader, project_id, filters, q):
        if not rows:
            continue
        tags, labels = names.extras(rows)
        for f in rows:
            yield _record(f, names, tags[f.id], labels.get(f.consent_id) if labels_ok else None)


def csv_stream(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    yield ("\ufeff" + buffer.getvalue()).encode()  # a BOM, so spreadsheet programs read UTF-8 right
    for rec in records(reader, project_id, filters, q):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow({**rec, "tags": "; ".join(rec["tags"]),
                         "answers": json.dumps(rec["answers"], ensure_ascii=False) if rec["answers"] else ""})
        yield buffer.getvalue().encode()


def jsonl_stream(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None) -> Iterator[bytes]:
    for rec in records(reader, project_id, filters, q):
        yield (json.dumps(rec, ensure_ascii=False) + "\n").encode()


# --- REFI-QDA -------------------------------------------------------------------------------------------

QDA_NS = "urn:QDA-XML:project:1.0"


def _guid(value: uuid.UUID | str) -> str:
    return str(uuid.UUID(str(value)))


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def qdpx_file(reader: Reader, project: Project, filters: dict[str, Any], q: str | None) -> Any:
    """A .qdpx (a zip of project.qde and one text source per fragment), written to a temporary file as the
    rows stream past, so memory stays flat whatever the size."""
    names = _Names(project.id)
    out = tempfile.TemporaryFile()  # noqa: SIM115 (handed to the response, which closes it when sent)
    hearken_user = _guid(uuid.uuid5(uuid.NAMESPACE_URL, f"hearken:{project.id}"))
    users: dict[str, str] = {hearken_user: "Hearken"}
    linked, exported = _memo_links(project.id), set()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf, \
            tempfile.TemporaryFile("w+", encoding="utf-8") as sources:
        for rows in _pages(reader, project.id, filters, q):
            if not rows:
                continue
            tags, _ = names.extras(rows)
            for f in rows:
                _write_source(zf, sources, f, tags[f.id], names, users)
                if f.id in linked:
                    exported.add(f.id)
        sources.seek(0)
        with zf.open("project.qde", "w") as qde:
            _write_project(qde, project, names, users, hearken_user, sources, _memo_notes(project.id, exported))
    out.seek(0)
    return out


def _write_source(zf: zipfile.ZipFile, sources: Any, f: Fragment, tags: list[uuid.UUID], names: _Names,
                  users: dict[str, str]) -> None:
    text = f.text or ""
    guid = _guid(f.id)
    zf.writestr(f"sources/{guid}.txt", text.encode("utf-8"))
    user = _guid(f.researcher_id)
    users.setdefault(user, f"researcher {user[:8]}")
    when = _iso(f.captured_at)
    place = names.places.get(f.place_id) or "no place"
    title = f"{when[:10]} {place} ({f.kind})"
    sources.write(f'<TextSource guid="{guid}" name={quoteattr(title)} plainTextPath="internal://{guid}.txt" '
                  f'creatingUser="{user}" creationDateTime="{when}">')
    prompt = names.prompts.get(f.prompt_id)
    if prompt:
        sources.write(f"<Description>{escape(prompt)}</Description>")
    if tags and text:
        # One selection over the whole fragment carries its codings: Hearken tags fragments, not spans.
        selection = _guid(uuid.uuid5(f.id, "selection"))
        sources.write(f'<PlainTextSelection guid="{selection}" name="whole fragment" startPosition="0" '
                      f'endPosition="{len(text)}" creatingUser="{user}">')
        for tag_id in sorted(tags, key=str):
            sources.write(f'<Coding guid="{_guid(uuid.uuid5(f.id, str(tag_id)))}"><CodeRef targetGUID="'
                          f'{_guid(tag_id)}"/></Coding>')
        sources.write("</PlainTextSelection>")
    sources.write("</TextSource>")


def _memo_links(project_id: uuid.UUID) -> set[uuid.UUID]:
    with open_session(read_only=True) as session:
        return memos.linked_fragment_ids(session, project_id)


def _memo_notes(project_id: uuid.UUID, exported: set[uuid.UUID]) -> str:
    """The coordinators' memos as REFI-QDA notes, linked to the exported fragments and the codes."""
    with open_session(read_only=True) as session:
        return memos.qdpx_notes(session, project_id, exported)


def _write_project(qde: Any, project: Project, names: _Names, users: dict[str, str], creator: str,
                   sources: Any, notes: str = "") -> None:
    def w(s: str) -> None:
        qde.write(s.encode("utf-8"))

    w('<?xml version="1.0" encoding="utf-8"?>\n')
    w(f'<Project xmlns="{QDA_NS}" name={quoteattr(project.name)} origin="Hearken" '
      f'creatingUserGUID="{creator}" creationDateTime="{_iso(datetime.now(UTC))}">')
    w("<Users>" + "".join(f'<User guid="{g}" name={quoteattr(n)}/>' for g, n in users.items()) + "</Users>")
    if names.tags:
        w("<CodeBook><Codes>" + codebook.codes_xml(names.tags.values()) + "</Codes></CodeBook>")
    first = sources.read(1)
    if first:
        w("<Sources>" + first)
        while chunk := sources.read(64 * 1024):
            w(chunk)
        w("</Sources>")
    if notes:
        w(notes)
    if project.description:
        w(f"<Description>{escape(project.description)}</Description>")
    w("</Project>\n")
