"""A researcher's fragments in a project, in capture order: one index range for their listing; a tag's
fragments from an index alone.

ix_fragments_researcher_captured (researcher_id, captured_at) becomes (researcher_id, project_id, captured_at, id):
a researcher's own `GET /fragments?project_id=` reads one range of it in keyset order, where before, without
planner statistics, PostgreSQL paired two bitmap scans and sorted the whole project (1.9 s at a million
fragments). The overview's latest capture per researcher and the foreign key read it as before.
ix_fragment_tags_tag_id (tag_id) becomes (tag_id, fragment_id): the tag filter reads a tag's fragment ids without
visiting the table for each link.

PostgreSQL's overview_counts triggers become statement-level with transition tables: one grouped upsert per
statement instead of seven upserts (fourteen on an update) per row. A withdrawal of 500 fragments spent ~300 ms
of its UPDATE in the row triggers at a million fragments, a purge of 3,000 about 2 s. SQLite has no statement
triggers and keeps its row triggers.

Revision ID: 7e5ea4c0b1d2
Revises: 9e1d0c0de5a7
Create Date: 2026-11-29 23:30:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = '7e5ea4c0b1d2'
down_revision: str | None = '9e1d0c0de5a7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


WEEK = "CAST(date_trunc('week', timezone('UTC', r.captured_at)) AS date)"
UPSERT = "ON CONFLICT (project_id, dimension, key, week) DO UPDATE SET n = overview_counts.n + excluded.n"
TRACKED = ("status", "place_id", "prompt_id", "captured_at", "sensitive", "reviewed_at")


def _contributions(rows: str, sign: str, where: str = "") -> str:
    """Everything each active fragment of `rows` (a transition table) counts for, times `sign`."""
    return f"""SELECT r.project_id, d.dimension, d.key, {WEEK} AS week, {sign} AS n FROM {rows} AS r
      CROSS JOIN LATERAL (
        SELECT 'all' AS dimension, r.project_id AS key
        UNION ALL SELECT 'place', r.place_id WHERE r.place_id IS NOT NULL
        UNION ALL SELECT 'prompt', r.prompt_id WHERE r.prompt_id IS NOT NULL
        UNION ALL SELECT 'sensitive', r.project_id WHERE r.sensitive
        UNION ALL SELECT 'unreviewed', r.project_id WHERE r.reviewed_at IS NULL
        UNION ALL SELECT 'researcher', r.researcher_id
        UNION ALL SELECT 'tag', t.tag_id FROM fragment_tags AS t WHERE t.fragment_id = r.id
      ) AS d WHERE r.status = 'active' {where}"""


def _tag_contributions(rows: str, sign: str) -> str:
    return f"""SELECT f.project_id, 'tag' AS dimension, r.tag_id AS key,
      CAST(date_trunc('week', timezone('UTC', f.captured_at)) AS date) AS week, {sign} AS n
      FROM {rows} AS r JOIN fragments AS f ON f.id = r.fragment_id WHERE f.status = 'active'"""


def _apply(*parts: str) -> str:
    return f"""INSERT INTO overview_counts (project_id, dimension, key, week, n)
      SELECT project_id, dimension, key, week, sum(n) FROM ({' UNION ALL '.join(parts)}) AS c
      GROUP BY project_id, dimension, key, week HAVING sum(n) <> 0 {UPSERT};"""


# An update counts only for the rows whose counted columns changed (a text edit changes no count).
_CHANGED = ("AND r.id IN (SELECT o.id FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id WHERE "
            f"({', '.join('o.' + c for c in TRACKED)}) IS DISTINCT FROM ({', '.join('n.' + c for c in TRACKED)}))")

PG_STATEMENT_ROLLUP = [
    f"""CREATE FUNCTION overview_counts_fragments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN {_apply(_contributions('new_rows', '1'))}
  ELSIF TG_OP = 'UPDATE' THEN {_apply(_contributions('old_rows', '-1', _CHANGED),
                                      _contributions('new_rows', '1', _CHANGED))}
  ELSE {_apply(_contributions('old_rows', '-1'))}
  END IF;
  RETURN NULL;
END $$""",
    f"""CREATE FUNCTION overview_counts_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN {_apply(_tag_contributions('new_rows', '1'))}
  ELSIF TG_OP = 'UPDATE' THEN {_apply(_tag_contributions('old_rows', '-1'), _tag_contributions('new_rows', '1'))}
  ELSE {_apply(_tag_contributions('old_rows', '-1'))}
  END IF;
  RETURN NULL;
END $$""",
    # One trigger per event: a trigger with transition tables takes one event and no column list.
    """CREATE TRIGGER overview_counts_fragments_i AFTER INSERT ON fragments REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION overview_counts_fragments()""",
    """CREATE TRIGGER overview_counts_fragments_u AFTER UPDATE ON fragments
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION overview_counts_fragments()""",
    """CREATE TRIGGER overview_counts_fragments_d AFTER DELETE ON fragments REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION overview_counts_fragments()""",
    """CREATE TRIGGER overview_counts_tags_i AFTER INSERT ON fragment_tags REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION overview_counts_tags()""",
    """CREATE TRIGGER overview_counts_tags_u AFTER UPDATE ON fragment_tags
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION overview_counts_tags()""",
    """CREATE TRIGGER overview_counts_tags_d AFTER DELETE ON fragment_tags REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION overview_counts_tags()""",
]
_STATEMENT_TRIGGERS = [("overview_counts_fragments_" + e, "fragments") for e in "iud"] + [
    ("overview_counts_tags_" + e, "fragment_tags") for e in "iud"]


def _drop_row_rollup() -> None:
    op.execute("DROP TRIGGER overview_counts_fragments ON fragments")
    op.execute("DROP TRIGGER overview_counts_tags ON fragment_tags")
    op.execute("DROP FUNCTION overview_counts_fragments()")
    op.execute("DROP FUNCTION overview_counts_tags()")


def _row_rollup() -> list[str]:
    """The row-level triggers as the search migration made them (for the downgrade)."""
    path = next(Path(__file__).parent.glob("*-search.py"))
    spec = importlib.util.spec_from_file_location("_search_migration", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._pg_rollup()


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _drop_row_rollup()
        for statement in PG_STATEMENT_ROLLUP:
            op.execute(statement)
    op.create_index('ix_fragments_researcher_project_captured', 'fragments',
                    ['researcher_id', 'project_id', 'captured_at', 'id'], unique=False)
    op.drop_index('ix_fragments_researcher_captured', table_name='fragments')
    op.create_index('ix_fragment_tags_tag_fragment', 'fragment_tags', ['tag_id', 'fragment_id'], unique=False)
    op.drop_index('ix_fragment_tags_tag_id', table_name='fragment_tags')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table in _STATEMENT_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute("DROP FUNCTION overview_counts_fragments()")
        op.execute("DROP FUNCTION overview_counts_tags()")
        for statement in _row_rollup():
            op.execute(statement)
    op.create_index('ix_fragment_tags_tag_id', 'fragment_tags', ['tag_id'], unique=False)
    op.drop_index('ix_fragment_tags_tag_fragment', table_name='fragment_tags')
    op.create_index('ix_fragments_researcher_captured', 'fragments', ['researcher_id', 'captured_at'], unique=False)
    op.drop_index('ix_fragments_researcher_project_captured', table_name='fragments')
