"""The search box's small query language, parsed here and rebuilt as SQL for either database.

    bus stop        both words, anywhere in the text
    "last bus"      the words side by side
    bus OR train    either (binds tighter than a space: `bus OR train late` is (bus or train) and late)
    -late           not this word (or -"a phrase"); `NOT late` too, and `AND` is the same as a space
    lone*           words that start so

In an English project a word finds its forms ("buses" finds "bus", "welcom" finds "welcome"); in a `simple`
one only itself. Nothing the user types reaches FTS5's MATCH syntax or PostgreSQL's tsquery syntax: words are
cut down to letters and digits and quoted again here, and anything that is not the syntax above is read as words,
so any text is a valid search; only a search with nothing to find is refused. (PostgreSQL's `english`
configuration also drops stop words such as "the" or "was"; FTS5's porter tokenizer keeps them.)
"""

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from api.errors import Invalid

MAX_WORDS = 20
WORD = re.compile(r"\w+", re.UNICODE)
# A phrase in double quotes (an unclosed one runs to the end), or any run of other characters.
TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # one word, or a phrase
    prefix: bool = False


@dataclass(frozen=True)
class Clause:
    terms: tuple[Term, ...]  # any of them
    negated: bool = False


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]  # all of them

    @property
    def positive(self) -> list[Clause]:
        return [c for c in self.clauses if not c.negated]

    @property
    def negative(self) -> list[Clause]:
        return [c for c in self.clauses if c.negated]


def parse(text: str) -> Query:
    clauses: list[Clause] = []
    pending_or = pending_not = False
    budget = MAX_WORDS
    for m in TOKEN.finditer(text):
        negated, phrase, bare = m.group(1) == "-", m.group(2), m.group(3)
        if bare == "OR":
            pending_or = bool(clauses) and not clauses[-1].negated
            continue
        if bare in ("AND", "NOT"):  # the words people bring from other tools: AND is the space, NOT is -
            pending_not = bare == "NOT"
            continue
        if bare is not None and bare.startswith("-") and len(bare) > 1:
            negated, bare = True, bare[1:]
        negated, pending_not = negated or pending_not, False
        words = tuple(w.lower() for w in WORD.findall(phrase if phrase is not None else bare))[:budget]
        if not words:
            continue
        budget -= len(words)
        term = Term(words, prefix=bare is not None and bare.endswith("*") and len(words) == 1)
        if pending_or and not negated:
            clauses[-1] = Clause(clauses[-1].terms + (term,))
        else:
            clauses.append(Clause((term,), negated=negated))
        pending_or = False
        if budget <= 0:
            break
    query = Query(tuple(clauses))
    if not query.positive:
        raise Invalid("The search needs at least one word to find (a search of only -words would find nearly "
                      "everything).", code="invalid_query")
    return query


def _forms(word: str, english: bool) -> list[str]:
    """The words to look for. The stemmers leave a few plurals apart from their singular (porter makes "buses"
    "buse" but "bus" stays "bus"), so an English word also brings its regular plural or singular."""
    if not english or word.isdigit() or len(word) < 3:
        return [word]
    if word.endswith(("ses", "xes", "zes")):
        return [word, word[:-2]]
    if word.endswith(("s", "x", "z")) and not word.endswith(("ss", "es")):
        return [word, word + "es"]
    return [word]


def _alternatives(clause: Clause, english: bool) -> list[Term]:
    out: list[Term] = []
    for term in clause.terms:
        if len(term.words) == 1 and not term.prefix:
            out += [Term((w,)) for w in _forms(term.words[0], english)]
        else:
            out.append(term)
    return out


def fts5_match(query: Query, english: bool) -> str:
    """An FTS5 MATCH expression: each word double-quoted (it holds only letters and digits), so the table's own
    tokenizer (porter or exact) reads it and nothing in it is syntax."""

    def term(t: Term) -> str:
        return '"' + " ".join(t.words) + '"' + ("*" if t.prefix else "")

    def clause(c: Clause) -> str:
        return "(" + " OR ".join(term(t) for t in _alternatives(c, english)) + ")"

    out = "(" + " AND ".join(clause(c) for c in query.positive) + ")"
    return out + "".join(" NOT " + clause(c) for c in query.negative)


def pg_tsquery(query: Query, config: str) -> Any:
    """A PostgreSQL tsquery built by functions from bound words: plainto_tsquery and phraseto_tsquery read their
    text as words only; a prefix word is letters and digits before the `:*` added here."""
    english = config == "english"
    cfg = sa.literal_column("'english'::regconfig" if english else "'simple'::regconfig")

    def term(t: Term) -> Any:
        if t.prefix:
            return sa.func.to_tsquery(cfg, t.words[0] + ":*")
        if len(t.words) > 1:
            return sa.func.phraseto_tsquery(cfg, " ".join(t.words))
        return sa.func.plainto_tsquery(cfg, t.words[0])

    def clause(c: Clause) -> Any:
        alternatives = [term(t) for t in _alternatives(c, english)]
        out = alternatives[0]
        for a in alternatives[1:]:
            out = sa.func.tsquery_or(out, a)
        return sa.func.tsquery_not(out) if c.negated else out

    parts = [clause(c) for c in query.positive] + [clause(c) for c in query.negative]
    out = parts[0]
    for p in parts[1:]:
        out = sa.func.tsquery_and(out, p)
    return out
