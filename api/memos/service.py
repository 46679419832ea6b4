"""Memos: a coordinator's notes on what is emerging, linked to the fragments and tags behind them.

A memo may quote a fragment, and so may a workshop's notes and themes and the tags a workshop leaves. A quote
follows its fragment. When the fragment is erased (withdrawal, retention) its words leave every one of those in
its project: the fragment's whole text, and each of its sentences of four words or more, wherever they are repeated
(ignoring case and spacing), become "[withdrawn]", and memos' links to it go. When its text is edited, quotes of
what changed take the new words (a redacted name leaves the memos too). A paraphrase in the coordinator's own
words is theirs and stays; a verbatim quote of the participant does not.
"""

import difflib
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.audit import service as audit
from api.db import utcnow
from api.errors import Invalid, NotFound
from api.export import xmltext
from api.feed import service as feed
from api.fragments.models import Fragment, FragmentStatus
from api.memos.models import Memo, MemoFragment, MemoPublic, MemoTag, MemoUpdate
from api.people.deps import Actor
from api.people.models import User
from api.projects import service as projects
from api.tags.models import Tag, free_name
from api.workshops.models import OPEN_FOR_GUESTS, BoardOp, Theme, Workshop
from api.workshops.models import Note as WorkshopNote

WITHDRAWN = "[withdrawn]"
EDITED_OUT = "[edited out]"
MIN_QUOTED_WORDS = 4


def _check_links(session: Session, project_id: uuid.UUID, fragment_ids: Sequence[uuid.UUID],
                 tag_ids: Sequence[uuid.UUID]) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    fids, tids = list(dict.fromkeys(fragment_ids)), list(dict.fromkeys(tag_ids))
    if fids:
        found = set(session.exec(select(Fragment.id).where(
            col(Fragment.id).in_(fids), Fragment.project_id == project_id, Fragment.status == FragmentStatus.active)))
        if bad := [str(i) for i in fids if i not in found]:
            raise Invalid("Some of these fragments are unknown, erased or in another project.", code="bad_fragments",
                          extra={"ids": bad})
    if tids:
        found = set(session.exec(select(Tag.id).where(col(Tag.id).in_(tids), Tag.project_id == project_id)))
        if bad := [str(i) for i in tids if i not in found]:
            raise Invalid("Some of these tags are not in this project's codebook.", code="bad_tags", extra={"ids": bad})
    return fids, tids


def _set_links(session: Session, memo: Memo, fragment_ids: list[uuid.UUID] | None,
               tag_ids: list[uuid.UUID] | None) -> None:
    if fragment_ids is not None:
        session.execute(sa.delete(MemoFragment).where(MemoFragment.memo_id == memo.id))
        session.add_all(MemoFragment(memo_id=memo.id, fragment_id=i) for i in fragment_ids)
    if tag_ids is not None:
        session.execute(sa.delete(MemoTag).where(MemoTag.memo_id == memo.id))
        session.add_all(MemoTag(memo_id=memo.id, tag_id=i) for i in tag_ids)


def create_memo(session: Session, actor: Actor, project_id: uuid.UUID, text: str,
                fragment_ids: Sequence[uuid.UUID] = (), tag_ids: Sequence[uuid.UUID] = ()) -> Memo:
    """A new memo by a coordinator of the project, linked to some of its fragments and tags."""
    projects.require_coordinator(session, actor, project_id)
    fids, tids = _check_links(session, project_id, fragment_ids, tag_ids)
    memo = Memo(project_id=project_id, text=text, created_by=actor.id)
    session.add(memo)
    session.flush()
    _set_links(session, memo, fids, tids)
    audit.record(session, actor_id=actor.id, action="memo.create", entity="memo", entity_id=memo.id,
                 project_id=project_id, detail={"fragments": len(fids), "tags": len(tids)})
    session.flush()
    return memo


def get_for_coordinator(session: Session, actor: Actor, memo_id: uuid.UUID) -> Memo:
    memo = session.get(Memo, memo_id)
    if memo is None or projects.role_in(session, actor, memo.project_id) is None:
        raise NotFound("No such memo.")
    projects.require_coordinator(session, actor, memo.project_id)
    return memo


def update(session: Session, actor: Actor, memo: Memo, data: MemoUpdate) -> Memo:
    changes = data.model_dump(exclude_unset=True)
    fids, tids = _check_links(session, memo.project_id, changes.get("fragment_ids") or [], changes.get("tag_ids") or [])
    if changes.get("text") is not None:
        memo.text = changes["text"]
    _set_links(session, memo, fids if changes.get("fragment_ids") is not None else None,
               tids if changes.get("tag_ids") is not None else None)
    memo.updated_at = utcnow()
    session.add(memo)
    audit.record(session, actor_id=actor.id, action="memo.update", entity="memo", entity_id=memo.id,
                 project_id=memo.project_id, detail={"fields": sorted(changes)})
    session.flush()
    return memo


def delete(session: Session, actor: Actor, memo: Memo) -> None:
    audit.record(session, actor_id=actor.id, action="memo.delete", entity="memo", entity_id=memo.id,
                 project_id=memo.project_id)
    session.execute(sa.delete(MemoFragment).where(MemoFragment.memo_id == memo.id))
    session.execute(sa.delete(MemoTag).where(MemoTag.memo_id == memo.id))
    session.delete(memo)
    session.flush()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_memos(session: Session, project_id: uuid.UUID, *, q: str | None = None,
               fragment_id: uuid.UUID | None = None, tag_id: uuid.UUID | None = None,
               limit: int = 50, offset: int = 0) -> list[Memo]:
    """Newest first; `q` finds words anywhere in the text (case-insensitive)."""
    stmt = select(Memo).where(Memo.project_id == project_id)
    if q:
        stmt = stmt.where(col(Memo.text).ilike(f"%{_escape_like(q)}%", escape="\\"))
    if fragment_id is not None:
        stmt = stmt.where(col(Memo.id).in_(select(MemoFragment.memo_id).where(MemoFragment.fragment_id == fragment_id)))
    if tag_id is not None:
        stmt = stmt.where(col(Memo.id).in_(select(MemoTag.memo_id).where(MemoTag.tag_id == tag_id)))
    return list(session.exec(stmt.order_by(col(Memo.updated_at).desc(), Memo.id).offset(offset).limit(limit)))


def public(session: Session, memos: Sequence[Memo]) -> list[MemoPublic]:
    ids = [m.id for m in memos]
    frags: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
    tags: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
    authors: dict[uuid.UUID, str] = {}
    if ids:
        for mid, fid in session.exec(select(MemoFragment.memo_id, MemoFragment.fragment_id)
                                     .where(col(MemoFragment.memo_id).in_(ids))):
            frags[mid].append(fid)
        for mid, tid in session.exec(select(MemoTag.memo_id, MemoTag.tag_id).where(col(MemoTag.memo_id).in_(ids))):
            tags[mid].append(tid)
        people = {m.created_by for m in memos}
        authors = {u.id: u.display_name or u.email for u in session.exec(select(User).where(col(User.id).in_(people)))}
    return [MemoPublic.model_validate(m, update={"fragment_ids": sorted(frags[m.id], key=str),
                                                 "tag_ids": sorted(tags[m.id], key=str),
                                                 "author": authors.get(m.created_by, "")}) for m in memos]


# --- quotes follow their fragment: erasure and edits ----------------------------------------------------------

# Where the team may repeat a fragment's words, besides memos: the workshops' notes and themes (a room often names a
# theme with a card's words; closing makes it a tag), the board operations that wrote them (a board's log is
# replayed to its screens) and the codebook. Column limits, so a longer replacement still fits.
NOTE_CHARS, THEME_CHARS, TAG_NAME_CHARS, TAG_DESCRIPTION_CHARS = 2000, 200, 120, 2000
SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+|\n+")


def _trim(piece: str) -> str:
    return piece.strip().strip(".!?…,;:\"'“”‘’ ")


def _quoted_pieces(text: str) -> list[str]:
    """The whole text, then each sentence of at least MIN_QUOTED_WORDS words, longest first."""
    pieces = [text] + [s for s in SENTENCE_BREAK.split(text) if len(s.split()) >= MIN_QUOTED_WORDS]
    return sorted(dict.fromkeys(p for p in map(_trim, pieces) if p), key=len, reverse=True)


def _edited_pieces(old: str, new: str) -> dict[str, str]:
    """What an edit of a fragment's text means for quotes of it: each piece of the old text a quote may hold (as
    `_quoted_pieces`) that the edit changed, and what takes its place — the whole text the new text, a sentence the
    sentence(s) that replaced it, a sentence the edit took out EDITED_OUT. A redacted name leaves the memos that
    quoted it, and an erasure later finds the quotes by the words the fragment then holds."""
    a = [s for s in SENTENCE_BREAK.split(old) if s.strip()]
    b = [s for s in SENTENCE_BREAK.split(new) if s.strip()]
    out: dict[str, str] = {}
    matcher = difflib.SequenceMatcher(a=[" ".join(s.lower().split()) for s in a],
                                      b=[" ".join(s.lower().split()) for s in b], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("equal", "insert"):
            continue
        if i2 - i1 == j2 - j1:
            pairs = list(zip(a[i1:i2], b[j1:j2], strict=True))
        else:
            instead = " ".join(s.strip() for s in b[j1:j2]) or EDITED_OUT
            pairs = [(" ".join(s.strip() for s in a[i1:i2]), instead)] + [(s, instead) for s in a[i1:i2]]
        out.update({_trim(s): r.strip() for s, r in pairs if len(s.split()) >= MIN_QUOTED_WORDS and _trim(s)})
    if _trim(old) and _trim(old) != _trim(new):
        out[_trim(old)] = new.strip()
    return out


def _quoted_body(piece: str) -> str:
    """Blind to case and spacing, whole words only, with or without the sentence's closing punctuation."""
    body = r"\s+".join(re.escape(w) for w in piece.split())
    start = r"\b" if piece[0].isalnum() else ""
    end = r"\b" if piece[-1].isalnum() else ""
    return f"{start}{body}{end}[.!?…]?"


def _may_occur(piece: str, haystack: str) -> bool:
    """False only when the piece cannot be in the (lower-cased) texts: some ASCII word of it is in none of them.
    Compiling a pattern costs ~1 ms; a purge of thousands of fragments against a few memos would spend seconds
    compiling patterns that cannot match. Non-ASCII words always pass (case folding beyond ASCII is the regex's)."""
    return all(not w.isascii() or w.lower() in haystack for w in piece.split())


def _substitution(replacements: dict[str, str], haystack: str) -> Callable[[str], str] | None:
    """A function that makes every replacement in a text at once (longest piece first), or None when no piece can
    occur in the (lower-cased) haystack."""
    pieces = sorted((p for p in replacements if _may_occur(p, haystack)), key=len, reverse=True)
    if not pieces:
        return None
    pattern = re.compile("|".join(f"({_quoted_body(p)})" for p in pieces), re.IGNORECASE)
    return lambda text: pattern.sub(lambda m: replacements[pieces[(m.lastindex or 1) - 1]], text)


def erase_quotes(session: Session, fragments: Iterable[Fragment], actor_id: uuid.UUID | None = None) -> int:
    """Before these fragments' text is erased: their words become WITHDRAWN wherever the team repeated them (see
    `_rewrite_quotes`), and memos' links to them go. Answers how many memos changed."""
    by_project: dict[uuid.UUID, list[Fragment]] = {}
    for f in fragments:
        by_project.setdefault(f.project_id, []).append(f)
    changed = 0
    for project_id, rows in by_project.items():
        session.execute(sa.delete(MemoFragment).where(col(MemoFragment.fragment_id).in_([f.id for f in rows])))
        pieces = {p: WITHDRAWN for f in rows if f.text for p in _quoted_pieces(f.text)}
        changed += _rewrite_quotes(session, project_id, pieces, actor_id, "memo.erased")
    return changed


def follow_edit(session: Session, fragment: Fragment, new_text: str, actor_id: uuid.UUID) -> int:
    """Before a fragment's text changes: quotes of what the edit changed follow it (`_edited_pieces`). Answers how
    many memos changed."""
    if not fragment.text:
        return 0
    return _rewrite_quotes(session, fragment.project_id, _edited_pieces(fragment.text, new_text), actor_id,
                           "memo.quote_edited")


def _rewrite_quotes(session: Session, project_id: uuid.UUID, replacements: dict[str, str],
                    actor_id: uuid.UUID | None, memo_action: str) -> int:
    """Each piece (a key) becomes its replacement in every memo, workshop note and theme of the project, the board
    operations that wrote them, and its tags' names and descriptions; in one pass, so a replacement is never
    matched again. Answers how many memos changed."""
    if not replacements:
        return 0
    # The open boards first, as a board operation takes them before their themes and notes (and as this
    # transaction's commit would, to tell their screens to load again): taking a theme first, then its board, met a
    # facilitator's rename holding the board and waiting for the theme. The rename now waits, and is not lost.
    session.exec(select(Workshop.id).where(Workshop.project_id == project_id,
                                           col(Workshop.state).in_(OPEN_FOR_GUESTS))
                 .order_by(col(Workshop.id)).with_for_update()).all()
    memos = list(session.exec(select(Memo).where(Memo.project_id == project_id)))
    notes = list(session.exec(select(WorkshopNote).join(Workshop, col(Workshop.id) == WorkshopNote.workshop_id)
                              .where(Workshop.project_id == project_id)))
    themes = list(session.exec(select(Theme).join(Workshop, col(Workshop.id) == Theme.workshop_id)
                               .where(Workshop.project_id == project_id)))
    ops = list(session.exec(select(BoardOp).join(Workshop, col(Workshop.id) == BoardOp.workshop_id)
                            .where(Workshop.project_id == project_id, col(BoardOp.kind).in_(_OP_TEXT))))
    tags = list(session.exec(select(Tag).where(Tag.project_id == project_id)))
    haystack = "\n".join([x.text.lower() for x in (*memos, *notes)] + [t.name.lower() for t in themes]
                          + [str(o.data.get(_OP_TEXT[o.kind], "")).lower() for o in ops]
                          + [f"{t.name}\n{t.description}".lower() for t in tags])
    substitute = _substitution(replacements, haystack)
    if substitute is None:
        return 0

    def rewrite(text: str, limit: int | None = None) -> str:
        out = substitute(text)
        return out[:limit] if limit and out != text else out

    changed = 0
    for memo in memos:
        if (text := rewrite(memo.text)) != memo.text:
            memo.text, memo.updated_at = text, utcnow()
            session.add(memo)
            changed += 1
            audit.record(session, actor_id=actor_id, action=memo_action, entity="memo", entity_id=memo.id,
                         project_id=project_id)
    for note in notes:
        if (text := rewrite(note.text, NOTE_CHARS)) != note.text:
            note.text = text
            session.add(note)
    for theme in themes:
        if (text := rewrite(theme.name, THEME_CHARS)) != theme.name:
            theme.name = text
            session.add(theme)
    for op in ops:
        key = _OP_TEXT[op.kind]
        text = str(op.data.get(key, ""))
        if (new := rewrite(text, NOTE_CHARS if op.kind == "note" else THEME_CHARS)) != text:
            op.data = {**op.data, key: new}
            session.add(op)
    taken = {t.name for t in tags}
    for tag in tags:
        name, description = rewrite(tag.name, TAG_NAME_CHARS), rewrite(tag.description, TAG_DESCRIPTION_CHARS)
        if (name, description) == (tag.name, tag.description):
            continue
        if name != tag.name:
            taken.discard(tag.name)
            name = free_name(name, taken, TAG_NAME_CHARS)
            taken.add(name)
        tag.name, tag.description, tag.updated_at = name, description, utcnow()
        session.add(tag)
        feed.record(session, project_id=project_id, entity="tag", entity_id=tag.id)
    session.flush()
    return changed


# The board operations that write words, and the key that holds them.
_OP_TEXT = {"note": "text", "theme": "name"}


# --- REFI-QDA -----------------------------------------------------------------------------------------------

def linked_fragment_ids(session: Session, project_id: uuid.UUID) -> set[uuid.UUID]:
    """The fragments some memo of the project links to (a few: memos are written by hand)."""
    return set(session.exec(select(MemoFragment.fragment_id).join(Memo, col(Memo.id) == MemoFragment.memo_id)
                            .where(Memo.project_id == project_id)))


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def qdpx_notes(session: Session, project_id: uuid.UUID, exported: set[uuid.UUID]) -> str:
    """The project's memos as REFI-QDA <Notes>, and <Links> from each note to its fragments (those in `exported`,
    the sources the .qdpx holds) and its codes: the XML that sits between </Sources> and the project's
    <Description>. Memos are few and short, so this is built in one piece."""
    memos = list(session.exec(select(Memo).where(Memo.project_id == project_id).order_by(Memo.created_at, Memo.id)))
    if not memos:
        return ""
    notes, links = [], []
    for m in public(session, memos):
        guid = str(m.id)
        title = m.text.strip().splitlines()[0][:60] if m.text.strip() else "memo"
        notes.append(f'<Note guid="{guid}" name={xmltext.attribute(title)} '
                     f'creationDateTime="{_iso(m.created_at)}" modifiedDateTime="{_iso(m.updated_at)}">'
                     f"<PlainTextContent>{xmltext.text(m.text)}</PlainTextContent></Note>")
        targets = [f for f in m.fragment_ids if f in exported] + list(m.tag_ids)
        for target in targets:
            link = uuid.uuid5(m.id, str(target))
            links.append(f'<Link guid="{link}" name="memo" direction="OneWay" originGUID="{guid}" '
                         f'targetGUID="{target}"/>')
    return "<Notes>" + "".join(notes) + "</Notes>" + ("<Links>" + "".join(links) + "</Links>" if links else "")
