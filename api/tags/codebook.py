"""The codebook as REFI-QDA XML: the <Code> tree (shared with the .qdpx export), the .qdc file, and its import.

A Hearken tag is a REFI-QDA code: its id is the code's guid, so a codebook exported, edited in another tool and
imported again updates the same tags. An uploaded codebook is untrusted: it is parsed without DTDs, entities or
external references (defusedxml), and checked whole before anything is stored.
"""

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from pydantic import ValidationError
from sqlmodel import Session, col, select

from api.audit import service as audit
from api.db import new_id, utcnow
from api.errors import AppError, Conflict
from api.feed import service as feed
from api.people.deps import Actor
from api.projects.models import Project
from api.tags.models import CodebookImportResult, Tag, TagCreate

CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
# Deeper than any codebook people work with, and shallow enough that nothing that walks the tree strains.
MAX_DEPTH = 32
# Limits of an imported file, far above a real codebook (a few hundred codes), checked before the work grows with
# it: the bytes as they arrive (413), the number of codes before any is checked or matched (422). A name is at most
# 120 characters and a description 2,000, like any tag.
MAX_BYTES = 512 * 1024
MAX_CODES = 1000
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_GUID = re.compile(r"\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?")
_SHORT_RGB = re.compile(r"#([0-9a-fA-F])([0-9a-fA-F])([0-9a-fA-F])")


class InvalidCodebook(AppError):
    """The body is not a well-formed, safe REFI-QDA codebook."""

    status, code = 400, "invalid_codebook"


def _text(value: str) -> str:
    # Characters XML 1.0 cannot carry at all; a tool would refuse the whole file over one of them.
    return _NOT_XML_CHARS.sub("", value)


def codes_xml(tags: Iterable[Tag]) -> str:
    """The <Code> elements of these tags, nested by parent and sorted by name, in whatever namespace the enclosing
    element declares (a .qdc's CodeBook or a .qde's Project). A tag whose parent is not among them is a root."""
    tags = list(tags)
    ids = {t.id for t in tags}
    children: dict[uuid.UUID | None, list[Tag]] = {}
    for tag in tags:
        children.setdefault(tag.parent_id if tag.parent_id in ids else None, []).append(tag)
    for group in children.values():
        group.sort(key=lambda t: t.name, reverse=True)  # popped from the end: name order
    out: list[str] = []
    # A stack rather than recursion: a tree grown deep one PATCH at a time must not exhaust Python's stack.
    stack: list[Tag | None] = list(children.get(None, []))
    while stack:
        tag = stack.pop()
        if tag is None:
            out.append("</Code>")
            continue
        colour = f" color={quoteattr(tag.colour)}" if tag.colour else ""
        out.append(f'<Code guid="{tag.id}" name={quoteattr(_text(tag.name))} isCodable="true"{colour}>')
        if tag.description:
            out.append(f"<Description>{escape(_text(tag.description))}</Description>")
        stack.append(None)
        stack.extend(children.get(tag.id, []))
    return "".join(out)


def export(session: Session, project: Project) -> bytes:
    """The project's codebook as a .qdc document."""
    tags = session.exec(select(Tag).where(Tag.project_id == project.id))
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<CodeBook xmlns="{CODEBOOK_NS}" origin="Hearken">'
            f"<Codes>{codes_xml(tags)}</Codes></CodeBook>\n").encode()


def filename(project: Project) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", project.name).strip("-.") or "project"
    return f"{slug[:80]}-codebook.qdc"


# --- import ------------------------------------------------------------------------------------------------

@dataclass
class _Code:
    guid: uuid.UUID | None
    name: str
    description: str
    colour: str | None
    parent: int | None  # index of the enclosing code in document order


def _q(name: str) -> str:
    return f"{{{CODEBOOK_NS}}}{name}"


def parse(body: bytes) -> list[_Code]:
    """The codes of a .qdc document in document order (parents before their children)."""
    try:
        root = safe_xml.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError, LookupError) as exc:
        raise InvalidCodebook(f"This is not well-formed, safe XML ({type(exc).__name__}).") from None
    if root.tag != _q("CodeBook"):
        raise InvalidCodebook(f"The root element must be CodeBook in the namespace {CODEBOOK_NS}.")
    codes_element = root.find(_q("Codes"))
    if codes_element is None:
        raise InvalidCodebook("The codebook has no Codes element.")
    if sum(1 for _ in codes_element.iter(_q("Code"))) > MAX_CODES:
        raise AppError(f"A codebook may hold at most {MAX_CODES} codes.", code="too_many_codes", status=422)
    codes: list[_Code] = []
    guids: set[uuid.UUID] = set()
    names: set[str] = set()
    pending: list[tuple[Element, int | None, int]] = [(e, None, 1) for e in reversed(codes_element.findall(_q("Code")))]
    while pending:
        element, parent, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise InvalidCodebook(f"Codes may nest at most {MAX_DEPTH} deep.")
        code = _code(element, parent)
        if code.guid is not None:
            if code.guid in guids:
                raise InvalidCodebook(f"The guid {code.guid} is used by more than one code.")
            guids.add(code.guid)
        if code.name in names:
            raise InvalidCodebook(f"More than one code is called {code.name!r}; names in a codebook must differ.")
        names.add(code.name)
        codes.append(code)
        pending.extend((e, len(codes) - 1, depth + 1) for e in reversed(element.findall(_q("Code"))))
    return codes


def _code(element: Element, parent: int | None) -> _Code:
    raw_guid = element.get("guid")
    guid = None
    if raw_guid is not None:
        match = _GUID.fullmatch(raw_guid.strip())
        if not match:
            raise InvalidCodebook(f"{raw_guid[:60]!r} is not a GUID.")
        guid = uuid.UUID(match.group(1))
    colour = element.get("color")
    if colour is not None:
        colour = colour.strip()
        if short := _SHORT_RGB.fullmatch(colour):
            colour = "#" + "".join(c * 2 for c in short.groups())
    description = element.find(_q("Description"))
    try:
        checked = TagCreate(name=element.get("name") or "", colour=colour,
                            description=(description.text or "") if description is not None else "")
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors())
        raise InvalidCodebook(f"The code {(element.get('name') or '')[:60]!r} has an invalid {fields}.") from None
    return _Code(guid, checked.name, checked.description, checked.colour, parent)


def import_codebook(session: Session, actor: Actor, project: Project, body: bytes,
                    dry_run: bool) -> CodebookImportResult:
    """Bring the project's codebook in line with the file: codes are matched by guid (a tag of this project),
    else by name (unique in a codebook), and take the file's name, description, colour and place in the tree;
    other codes are created. Tags the file does not mention are left as they are."""
    codes = parse(body)
    tags = {t.id: t for t in session.exec(select(Tag).where(Tag.project_id == project.id))}
    by_name = {t.name: t for t in tags.values()}
    matched: list[Tag | None] = [tags.get(c.guid) if c.guid else None for c in codes]
    used = {t.id for t in matched if t is not None}
    for i, code in enumerate(codes):
        if matched[i] is None and (same := by_name.get(code.name)) is not None and same.id not in used:
            matched[i] = same
            used.add(same.id)
    for tag in tags.values():
        if tag.id not in used and tag.name in {c.name for c in codes}:
            raise Conflict(f"The codebook already has a tag called {tag.name!r} that this file does not match.",
                           code="tag_exists")
    # The file's guid becomes the new tag's id where it is free, so the next import from that tool matches by guid.
    wanted = [c.guid for c, t in zip(codes, matched, strict=True) if t is None and c.guid is not None]
    taken = set(session.exec(select(Tag.id).where(col(Tag.id).in_(wanted)))) if wanted else set()
    ids = [t.id if t is not None else (c.guid if c.guid and c.guid not in taken else new_id())
           for c, t in zip(codes, matched, strict=True)]

    def final(i: int) -> dict[str, object]:
        code = codes[i]
        return {"name": code.name, "description": code.description, "colour": code.colour,
                "parent_id": ids[code.parent] if code.parent is not None else None}

    changed = [i for i, t in enumerate(matched)
               if t is not None and any(getattr(t, k) != v for k, v in final(i).items())]
    created = [i for i, t in enumerate(matched) if t is None]
    result = CodebookImportResult(created=len(created), updated=len(changed),
                                  unchanged=len(codes) - len(created) - len(changed), dry_run=dry_run)
    if dry_run:
        return result
    now = utcnow()
    renamed = [matched[i] for i in changed if matched[i].name != codes[i].name]  # type: ignore[union-attr]
    for tag in renamed:
        # A name held by another tag of the file until this import renames it too (a swap): park it first.
        tag.name = f"~{tag.id}"  # type: ignore[union-attr]
        session.add(tag)
    session.flush()
    for i in created:
        # In document order, so a new parent is written before its new children.
        session.add(Tag(id=ids[i], project_id=project.id, **final(i), created_at=now, updated_at=now))
    session.flush()
    for i in changed:
        tag = matched[i]
        for key, value in final(i).items():
            setattr(tag, key, value)
        tag.updated_at = now  # type: ignore[union-attr]
        session.add(tag)
    session.flush()
    for i in created + changed:
        feed.record(session, project_id=project.id, entity="tag", entity_id=ids[i])
    audit.record(session, actor_id=actor.id, action="codebook.import", entity="project", entity_id=project.id,
                 project_id=project.id, detail=result.model_dump(exclude={"dry_run"}))
    return result
