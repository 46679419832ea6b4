"""Exports: CSV, JSON Lines and REFI-QDA (.qdpx) of any filtered selection, streamed in constant memory.

Rows are read a keyset page at a time, each page in its own short read, and written out as they come:
a million rows never sit in memory together. What an export includes follows the caller's rights, and a
partner or public export only what consent allows (`share`, `publish`).
"""

import csv
import functools
import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import sqlalchemy as sa
from sqlmodel import Session, select

from api.clients.deps import ClientActor, Reader
from api.clients.models import Audience, ClientScope
from api.consent.models import Consent, Participant
from api.conversations.models import Conversation
from api.db import open_session
from api.errors import Forbidden, NotFound
from api.fragments import render
from api.fragments import service as fragments
from api.fragments.models import Fragment, FragmentStatus
from api.memos import service as memos
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


def _raw_id(column: Any, dialect: str) -> Any:
    """A UUID column as the database holds it, as text: 32 hex digits on SQLite, the usual form on PostgreSQL.
    (A UUID object per value cost more than reading the row; Python formats only the ids it prints.)"""
    return sa.cast(column, sa.Text) if dialect == "postgresql" else sa.type_coerce(column, sa.String)


def _dashed(dialect: str) -> Callable[[str], str]:
    if dialect == "postgresql":
        return str
    return lambda h: f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" if h else h


@functools.cache
def _columns(dialect: str, labels: bool) -> tuple[Any, ...]:
    """What an export reads of a fragment, with its tag ids and its participant's label found by the same query
    (through fragment_tags' and consents' primary keys) rather than by a query per page."""
    tag_id = _raw_id(FragmentTag.tag_id, dialect)
    tags = sa.func.string_agg(tag_id, ",") if dialect == "postgresql" else sa.func.group_concat(tag_id, ",")
    label = (select(Participant.label).join(Consent, Consent.participant_id == Participant.id)  # type: ignore[arg-type]
             .where(Consent.id == Fragment.consent_id).scalar_subquery()) if labels else sa.null()
    return (_raw_id(Fragment.id, dialect).label("id"),
            sa.func.replace(render.time_text(Fragment.captured_at, dialect), "Z", "+00:00").label("captured_at"),
            _raw_id(Fragment.place_id, dialect).label("place_id"),
            _raw_id(Fragment.prompt_id, dialect).label("prompt_id"), Fragment.kind, Fragment.language,
            Fragment.text, Fragment.sensitive, Fragment.answers,
            _raw_id(Fragment.conversation_id, dialect).label("conversation_id"),
            _raw_id(Fragment.consent_id, dialect).label("consent_id"),
            _raw_id(Fragment.researcher_id, dialect).label("researcher_id"),
            select(tags).where(FragmentTag.fragment_id == Fragment.id).scalar_subquery().label("tag_ids"),
            label.label("participant_label"))


def _pages(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None) -> Iterator[list[Any]]:
    """Keyset pages in capture order (ix_fragments_project_captured), each read in a short transaction of its own:
    no read stays open for the whole download, and a withdrawal that commits meanwhile is honoured by later pages."""
    cursor: str | None = None
    while True:
        with open_session(read_only=True) as session:
            columns = _columns(session.get_bind().dialect.name, _shows_labels(reader))
            rows, cursor = fragments.list_fragments(session, reader, project_id=project_id, q=q, cursor=cursor,
                                                    limit=PAGE, filters={**filters, "status": FragmentStatus.active},
                                                    client_scope=ClientScope.export, columns=columns)
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
    """The small lookups an export row needs (place and prompt names, tags, researchers), by id as the database
    holds it (see _raw_id), and how to print an id."""

    def __init__(self, project_id: uuid.UUID):
        with open_session(read_only=True) as session:
            dialect = session.get_bind().dialect.name
            self.dashed = _dashed(dialect)
            key: Callable[[uuid.UUID], str] = str if dialect == "postgresql" else (lambda u: u.hex)
            self.places = {key(p.id): p.name for p in session.exec(select(Place).where(Place.project_id == project_id))}
            self.prompts = {key(p.id): p.text
                            for p in session.exec(select(Prompt).where(Prompt.project_id == project_id))}
            self.tags = {key(t.id): t for t in session.exec(select(Tag).where(Tag.project_id == project_id))}
            # Everyone who captured in the project, listed in a .qdpx before the sources that name them (from
            # the conversations: a fragment's researcher is its conversation's, and they are far fewer).
            self.users = {key(r): str(r) for r in session.exec(select(Conversation.researcher_id)
                                                               .where(Conversation.project_id == project_id)
                                                               .distinct())}

    def tag_names(self, tag_ids: str | None) -> list[str]:
        return sorted(self.tags[t].name for t in tag_ids.split(",") if t in self.tags) if tag_ids else []


def _shows_labels(reader: Reader) -> bool:
    # Participant labels are pseudonymous, but only the project's own team needs them.
    return not isinstance(reader, ClientActor) or reader.client.audience == Audience.internal


def _values(f: Any, names: _Names) -> list[Any]:
    """A row's values in CSV_COLUMNS order (tags a list, answers a dict)."""
    id_, at, place, prompt, kind, language, text, sensitive, answers, conversation, consent, _, tags, label = f
    dashed = names.dashed
    return [dashed(id_), at, names.places.get(place), names.prompts.get(prompt), kind, language, text, sensitive,
            names.tag_names(tags), answers, dashed(conversation), dashed(consent), label]


def _all_values(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None) -> Iterator[list[Any]]:
    names = _Names(project_id)
    for rows in _pages(reader, project_id, filters, q):
        for f in rows:
            yield _values(f, names)


def records(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None) -> Iterator[dict[str, Any]]:
    for values in _all_values(reader, project_id, filters, q):
        yield dict(zip(CSV_COLUMNS, values, strict=True))


def csv_stream(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None) -> Iterator[bytes]:
    tags, answers = CSV_COLUMNS.index("tags"), CSV_COLUMNS.index("answers")

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        yield "\ufeff" + buffer.getvalue()  # a BOM, so spreadsheet programs read UTF-8 right
        for values in _all_values(reader, project_id, filters, q):
            buffer.seek(0)
            buffer.truncate()
            values[tags] = "; ".join(values[tags])
            values[answers] = json.dumps(values[answers], ensure_ascii=False) if values[answers] else ""
            writer.writerow(values)
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
    yield '<?xml version="1.0" encoding="utf-8"?>\n'
    yield (f'<Project xmlns="{QDA_NS}" name={quoteattr(project.name)} origin="Hearken" '
           f'creatingUserGUID="{creator}" creationDateTime="{_iso(datetime.now(UTC))}">')
    yield "<Users>" + f'<User guid="{creator}" name="Hearken"/>' + "".join(
        f'<User guid="{g}" name="researcher {g[:8]}"/>' for g in names.users.values()) + "</Users>"
    if names.tags:
        yield "<CodeBook><Codes>" + codebook.codes_xml(names.tags.values()) + "</Codes></CodeBook>"
    linked, exported = _memo_links(project.id), set[uuid.UUID]()
    yield from _sources(reader, project, filters, q, names, linked, exported)
    yield _memo_notes(project.id, exported)
    if project.description:
        yield f"<Description>{escape(project.description)}</Description>"
    yield "</Project>\n"


def _sources(reader: Reader, project: Project, filters: dict[str, Any], q: str | None,
             names: _Names, memo_linked: set[uuid.UUID], exported: set[uuid.UUID]) -> Iterator[str]:
    opened = False
    for rows in _pages(reader, project.id, filters, q):
        if not rows:
            continue
        if not opened:
            yield "<Sources>"
            opened = True
        for f in rows:
            yield _text_source(f, names)
            if memo_linked and (fid := uuid.UUID(names.dashed(f.id))) in memo_linked:
                exported.add(fid)
    if opened:
        yield "</Sources>"


# Characters XML 1.0 cannot hold, replaced one for one so selection positions still count the fragment's text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text_source(f: Any, names: _Names) -> str:
    text = f.text or ""
    guid = names.dashed(f.id)
    user = names.users.get(f.researcher_id)
    creating = f' creatingUser="{user}"' if user else ""
    when = f.captured_at[:19] + "Z"
    place = names.places.get(f.place_id) or "no place"
    title = f"{when[:10]} {place} ({f.kind})"
    parts = [f'<TextSource guid="{guid}" name={quoteattr(title)}{creating} creationDateTime="{when}">']
    prompt = names.prompts.get(f.prompt_id)
    if prompt:
        parts.append(f"<Description>{escape(prompt)}</Description>")
    parts.append(f"<PlainTextContent>{escape(_NOT_XML.sub(chr(0xFFFD), text))}</PlainTextContent>")
    tags = [t for t in f.tag_ids.split(",") if t in names.tags] if f.tag_ids else []
    if tags and text:
        # One selection over the whole fragment carries its codings: Hearken tags fragments, not spans.
        fid = uuid.UUID(guid)
        selection = _guid(uuid.uuid5(fid, "selection"))
        parts.append(f'<PlainTextSelection guid="{selection}" name="whole fragment" startPosition="0" '
                     f'endPosition="{len(text)}"{creating}>')
        for tag_id in sorted(str(names.tags[t].id) for t in tags):
            parts.append(f'<Coding guid="{_guid(uuid.uuid5(fid, tag_id))}"><CodeRef targetGUID="{tag_id}"/></Coding>')
        parts.append("</PlainTextSelection>")
    parts.append("</TextSource>")
    return "".join(parts)


def _memo_links(project_id: uuid.UUID) -> set[uuid.UUID]:
    with open_session(read_only=True) as session:
        return memos.linked_fragment_ids(session, project_id)


def _memo_notes(project_id: uuid.UUID, exported: set[uuid.UUID]) -> str:
    """The coordinators' memos as REFI-QDA notes (between </Sources> and <Description>), linked to the exported
    fragments and the codes."""
    with open_session(read_only=True) as session:
        return memos.qdpx_notes(session, project_id, exported)
