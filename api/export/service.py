"""Exports: CSV, JSON Lines and REFI-QDA (.qdpx) of any filtered selection, streamed in constant memory.

Rows are read a keyset page at a time, each page in its own short read, and written out as they come:
a million rows never sit in memory together. What an export includes follows the caller's rights, and a
partner or public export only what consent allows (`share`, `publish`).
"""

import csv
import io
import json
import re
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
from api.conversations.models import Conversation
from api.db import open_session
from api.errors import Forbidden, NotFound
from api.fragments import service as fragments
from api.fragments.models import Fragment, FragmentStatus
from api.projects import service as projects
from api.projects.models import Place, Project, Prompt
from api.tags import codebook
from api.tags.models import FragmentTag, Tag

PAGE = 2000
CHUNK = 64 * 1024
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


# The columns an export reads: plain rows, not ORM objects (building objects cost more than the query).
_COLUMNS = (Fragment.id, Fragment.captured_at, Fragment.place_id, Fragment.prompt_id, Fragment.kind,
            Fragment.language, Fragment.text, Fragment.sensitive, Fragment.answers, Fragment.conversation_id,
            Fragment.consent_id, Fragment.researcher_id)


def _pages(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None) -> Iterator[list[Any]]:
    """Keyset pages in capture order (ix_fragments_project_captured), each read in a short transaction of its own:
    no read stays open for the whole download, and a withdrawal that commits meanwhile is honoured by later pages."""
    cursor: str | None = None
    while True:
        with open_session(read_only=True) as session:
            rows, cursor = fragments.list_fragments(session, reader, project_id=project_id, q=q, cursor=cursor,
                                                    limit=PAGE, filters={**filters, "status": FragmentStatus.active},
                                                    client_scope=ClientScope.export, columns=_COLUMNS)
            yield rows
        if cursor is None:
            return


def _chunks(pieces: Iterator[str]) -> Iterator[bytes]:
    """Text pieces joined into ~64 KB chunks: each chunk the server sends costs a thread hop and a write, so a
    chunk a row made the export many times slower than the database."""
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode()


class _Names:
    """The small lookups an export row needs: place and prompt names, tag names, participant labels."""

    def __init__(self, project_id: uuid.UUID):
        with open_session(read_only=True) as session:
            self.places = {p.id: p.name for p in session.exec(select(Place).where(Place.project_id == project_id))}
            self.prompts = {p.id: p.text for p in session.exec(select(Prompt).where(Prompt.project_id == project_id))}
            self.tags = {t.id: t for t in session.exec(select(Tag).where(Tag.project_id == project_id))}

    @staticmethod
    def extras(rows: list[Any], labels_wanted: bool = True) -> tuple[dict[uuid.UUID, list[uuid.UUID]],
                                                                      dict[uuid.UUID, str]]:
        ids = [f.id for f in rows]
        tags: dict[uuid.UUID, list[uuid.UUID]] = {}
        labels: dict[uuid.UUID, str] = {}
        with open_session(read_only=True) as session:
            for fid, tid in session.exec(select(FragmentTag.fragment_id, FragmentTag.tag_id)
                                         .where(col(FragmentTag.fragment_id).in_(ids))):
                tags.setdefault(fid, []).append(tid)
            if labels_wanted:
                consent_ids = {f.consent_id for f in rows}
                labels = dict(session.exec(select(Consent.id, Participant.label)
                                           .join(Participant, Participant.id == Consent.participant_id)  # type: ignore[arg-type]
                                           .where(col(Consent.id).in_(consent_ids))).all())
        return tags, labels


def _shows_labels(reader: Reader) -> bool:
    # Participant labels are pseudonymous, but only the project's own team needs them.
    return not isinstance(reader, ClientActor) or reader.client.audience == Audience.internal


def _record(f: Any, names: _Names, tags: list[uuid.UUID], label: str | None) -> dict[str, Any]:
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
        tags, labels = names.extras(rows, labels_ok)
        for f in rows:
            yield _record(f, names, tags.get(f.id, []), labels.get(f.consent_id))


def csv_stream(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None) -> Iterator[bytes]:
    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        yield "\ufeff" + buffer.getvalue()  # a BOM, so spreadsheet programs read UTF-8 right
        for rec in records(reader, project_id, filters, q):
            buffer.seek(0)
            buffer.truncate()
            rec["tags"] = "; ".join(rec["tags"])
            rec["answers"] = json.dumps(rec["answers"], ensure_ascii=False) if rec["answers"] else ""
            writer.writerow([rec[c] for c in CSV_COLUMNS])
            yield buffer.getvalue()

    return _chunks(lines())


def jsonl_stream(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None) -> Iterator[bytes]:
    return _chunks(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records(reader, project_id, filters, q))


# --- REFI-QDA -------------------------------------------------------------------------------------------

QDA_NS = "urn:QDA-XML:project:1.0"


def _guid(value: uuid.UUID | str) -> str:
    return str(uuid.UUID(str(value)))


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Sink:
    """A write-only file for zipfile. It has no seek or tell, so zipfile writes each entry's sizes in a data
    descriptor after the entry and never goes back: the zip can leave as it is made."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def qdpx_stream(reader: Reader, project: Project, filters: dict[str, Any], q: str | None) -> Iterator[bytes]:
    """A .qdpx: a zip holding one entry, project.qde, whose sources carry their text inline (PlainTextContent),
    compressed and sent as the rows stream past: nothing is written to disk and memory stays flat whatever the
    size. (One file per fragment would make a million zip entries, each remembered until the zip's end.)"""
    sink = _Sink()
    # ZIP64 from the start: the size is unknown until the end, and a big project passes 2 GB.
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=5) as zf, \
            zf.open("project.qde", "w", force_zip64=True) as qde:
        for chunk in _chunks(project_xml(reader, project, filters, q)):
            qde.write(chunk)
            if data := sink.take():
                yield data
    yield sink.take()


def project_xml(reader: Reader, project: Project, filters: dict[str, Any], q: str | None) -> Iterator[str]:
    """project.qde as text pieces, in the order Project.xsd wants its sections (Users, CodeBook, Variables, Cases,
    Sources, Notes, Links, Sets, Graphs, Description): a new section is one more step here."""
    names = _Names(project.id)
    creator = _guid(uuid.uuid5(uuid.NAMESPACE_URL, f"hearken:{project.id}"))
    users = _users(project.id)
    yield '<?xml version="1.0" encoding="utf-8"?>\n'
    yield (f'<Project xmlns="{QDA_NS}" name={quoteattr(project.name)} origin="Hearken" '
           f'creatingUserGUID="{creator}" creationDateTime="{_iso(datetime.now(UTC))}">')
    yield "<Users>" + f'<User guid="{creator}" name="Hearken"/>' + "".join(
        f'<User guid="{g}" name="researcher {g[:8]}"/>' for g in users) + "</Users>"
    if names.tags:
        yield "<CodeBook><Codes>" + codebook.codes_xml(names.tags.values()) + "</Codes></CodeBook>"
    yield from _sources(reader, project, filters, q, names, users | {creator})
    if project.description:
        yield f"<Description>{escape(project.description)}</Description>"
    yield "</Project>\n"


def _users(project_id: uuid.UUID) -> set[str]:
    """Everyone who captured in the project, listed before the sources that name them (from the conversations:
    a fragment's researcher is its conversation's, and there are far fewer conversations than fragments)."""
    with open_session(read_only=True) as session:
        return {_guid(r) for r in session.exec(select(Conversation.researcher_id)
                                                .where(Conversation.project_id == project_id).distinct())}


def _sources(reader: Reader, project: Project, filters: dict[str, Any], q: str | None, names: _Names,
             users: set[str]) -> Iterator[str]:
    opened = False
    for rows in _pages(reader, project.id, filters, q):
        if not rows:
            continue
        if not opened:
            yield "<Sources>"
            opened = True
        tags, _ = names.extras(rows, labels_wanted=False)
        for f in rows:
            yield _text_source(f, tags.get(f.id, []), names, users)
    if opened:
        yield "</Sources>"


# Characters XML 1.0 cannot hold, replaced one for one so selection positions still count the fragment's text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text_source(f: Any, tags: list[uuid.UUID], names: _Names, users: set[str]) -> str:
    text = f.text or ""
    guid = _guid(f.id)
    user = _guid(f.researcher_id)
    creating = f' creatingUser="{user}"' if user in users else ""
    when = _iso(f.captured_at)
    place = names.places.get(f.place_id) or "no place"
    title = f"{when[:10]} {place} ({f.kind})"
    parts = [f'<TextSource guid="{guid}" name={quoteattr(title)}{creating} creationDateTime="{when}">']
    prompt = names.prompts.get(f.prompt_id)
    if prompt:
        parts.append(f"<Description>{escape(prompt)}</Description>")
    parts.append(f"<PlainTextContent>{escape(_NOT_XML.sub(chr(0xFFFD), text))}</PlainTextContent>")
    if tags and text:
        # One selection over the whole fragment carries its codings: Hearken tags fragments, not spans.
        selection = _guid(uuid.uuid5(f.id, "selection"))
        parts.append(f'<PlainTextSelection guid="{selection}" name="whole fragment" startPosition="0" '
                     f'endPosition="{len(text)}"{creating}>')
        for tag_id in sorted(tags, key=str):
            parts.append(f'<Coding guid="{_guid(uuid.uuid5(f.id, str(tag_id)))}"><CodeRef targetGUID="'
                         f'{_guid(tag_id)}"/></Coding>')
        parts.append("</PlainTextSelection>")
    parts.append("</TextSource>")
    return "".join(parts)
