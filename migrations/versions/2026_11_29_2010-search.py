"""search: English word forms or exact words per project, a stored search vector on PostgreSQL, filter indexes

Revision ID: 5e4rch0f0rm5
Revises: 5ec0a07b1a10
Create Date: 2026-11-29 20:10:00

Each project chooses how its text is searched (`search_language`): `english` finds word forms (FTS5's porter
tokenizer; PostgreSQL's `english` configuration), `simple` matches words exactly. Existing projects become
`english` and their index is rebuilt.

SQLite: two contentless FTS5 tables share the rowids of `fragments_fts_ids`: `fragments_fts` (exact) and
`fragments_fts_english` (porter). A fragment is in the one its project's language names; the triggers choose it,
and a trigger on the project moves its fragments when the language changes (a contentless table can only delete
what it is given exactly, so the move happens in the same statement that changes the setting).

PostgreSQL: a `search_vector` column kept by a trigger (NULL when the text is erased) with a GIN index, instead of
an expression index: the planner gets statistics on the column, a row is matched without recomputing
to_tsvector, and the configuration can differ per project.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '5e4rch0f0rm5'
down_revision: str | None = '5ec0a07b1a10'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_TRIGGERS = ("fragments_fts_ai", "fragments_fts_au", "fragments_fts_ad")

# fragments_fts_ids.english says which table holds a fragment's words, so a delete never depends on the project
# still being there (a cascade) or on its setting (the language trigger moves rows with the setting).
_ENGLISH = "coalesce((SELECT search_language = 'english' FROM projects WHERE id = {row}.project_id), 0)"


def _index(row: str) -> str:
    return f"""
  INSERT OR IGNORE INTO fragments_fts_ids (fragment_id) SELECT {row}.id WHERE {row}.text IS NOT NULL;
  UPDATE fragments_fts_ids SET english = {_ENGLISH.format(row=row)}
    WHERE fragment_id = {row}.id AND {row}.text IS NOT NULL;
  INSERT INTO fragments_fts (rowid, text) SELECT rowid, {row}.text FROM fragments_fts_ids
    WHERE fragment_id = {row}.id AND {row}.text IS NOT NULL AND NOT english;
  INSERT INTO fragments_fts_english (rowid, text) SELECT rowid, {row}.text FROM fragments_fts_ids
    WHERE fragment_id = {row}.id AND {row}.text IS NOT NULL AND english;"""


_UNINDEX = """
  INSERT INTO fragments_fts (fragments_fts, rowid, text) SELECT 'delete', rowid, old.text FROM fragments_fts_ids
    WHERE fragment_id = old.id AND old.text IS NOT NULL AND NOT english;
  INSERT INTO fragments_fts_english (fragments_fts_english, rowid, text) SELECT 'delete', rowid, old.text
    FROM fragments_fts_ids WHERE fragment_id = old.id AND old.text IS NOT NULL AND english;"""

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER fragments_fts_ai AFTER INSERT ON fragments WHEN new.text IS NOT NULL BEGIN{_index("new")}
END""",
    f"""CREATE TRIGGER fragments_fts_au AFTER UPDATE OF text ON fragments BEGIN{_UNINDEX}{_index("new")}
END""",
    f"""CREATE TRIGGER fragments_fts_ad AFTER DELETE ON fragments BEGIN{_UNINDEX}
  DELETE FROM fragments_fts_ids WHERE fragment_id = old.id;
END""",
    # A project that changes language moves its fragments' words from one table to the other.
    """CREATE TRIGGER fragments_fts_language AFTER UPDATE OF search_language ON projects
WHEN (old.search_language = 'english') IS NOT (new.search_language = 'english') BEGIN
  INSERT INTO fragments_fts (fragments_fts, rowid, text) SELECT 'delete', i.rowid, f.text
    FROM fragments f JOIN fragments_fts_ids i ON i.fragment_id = f.id
    WHERE f.project_id = new.id AND f.text IS NOT NULL AND NOT i.english;
  INSERT INTO fragments_fts_english (fragments_fts_english, rowid, text) SELECT 'delete', i.rowid, f.text
    FROM fragments f JOIN fragments_fts_ids i ON i.fragment_id = f.id
    WHERE f.project_id = new.id AND f.text IS NOT NULL AND i.english;
  UPDATE fragments_fts_ids SET english = (new.search_language = 'english')
    WHERE fragment_id IN (SELECT id FROM fragments WHERE project_id = new.id AND text IS NOT NULL);
  INSERT INTO fragments_fts (rowid, text) SELECT i.rowid, f.text
    FROM fragments f JOIN fragments_fts_ids i ON i.fragment_id = f.id
    WHERE f.project_id = new.id AND f.text IS NOT NULL AND NOT i.english;
  INSERT INTO fragments_fts_english (rowid, text) SELECT i.rowid, f.text
    FROM fragments f JOIN fragments_fts_ids i ON i.fragment_id = f.id
    WHERE f.project_id = new.id AND f.text IS NOT NULL AND i.english;
END""",
]

# The backbone's triggers, for a downgrade.
BACKBONE_TRIGGERS = [
    """CREATE TRIGGER fragments_fts_ai AFTER INSERT ON fragments WHEN new.text IS NOT NULL BEGIN
  INSERT OR IGNORE INTO fragments_fts_ids (fragment_id) VALUES (new.id);
  INSERT INTO fragments_fts (rowid, text)
    SELECT rowid, new.text FROM fragments_fts_ids WHERE fragment_id = new.id;
END""",
    """CREATE TRIGGER fragments_fts_au AFTER UPDATE OF text ON fragments BEGIN
  INSERT INTO fragments_fts (fragments_fts, rowid, text)
    SELECT 'delete', rowid, old.text FROM fragments_fts_ids WHERE fragment_id = old.id AND old.text IS NOT NULL;
  INSERT OR IGNORE INTO fragments_fts_ids (fragment_id) SELECT new.id WHERE new.text IS NOT NULL;
  INSERT INTO fragments_fts (rowid, text)
    SELECT rowid, new.text FROM fragments_fts_ids WHERE fragment_id = new.id AND new.text IS NOT NULL;
END""",
    """CREATE TRIGGER fragments_fts_ad AFTER DELETE ON fragments BEGIN
  INSERT INTO fragments_fts (fragments_fts, rowid, text)
    SELECT 'delete', rowid, old.text FROM fragments_fts_ids WHERE fragment_id = old.id AND old.text IS NOT NULL;
  DELETE FROM fragments_fts_ids WHERE fragment_id = old.id;
END""",
]

PG_VECTOR = """CASE WHEN {row}.text IS NULL THEN NULL ELSE to_tsvector(
    CASE WHEN (SELECT search_language FROM projects WHERE id = {row}.project_id) = 'english'
         THEN 'english' ELSE 'simple' END::regconfig, {row}.text) END"""

PG_FUNCTIONS = [
    f"""CREATE FUNCTION fragments_fts_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_vector := {PG_VECTOR.format(row="NEW")};
  RETURN NEW;
END $$""",
    """CREATE TRIGGER fragments_fts_vector BEFORE INSERT OR UPDATE OF text ON fragments
  FOR EACH ROW EXECUTE FUNCTION fragments_fts_vector()""",
    f"""CREATE FUNCTION fragments_fts_language() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE fragments SET search_vector = {PG_VECTOR.format(row="fragments")}
    WHERE project_id = NEW.id AND text IS NOT NULL;
  RETURN NULL;
END $$""",
    """CREATE TRIGGER fragments_fts_language AFTER UPDATE OF search_language ON projects
  FOR EACH ROW WHEN (OLD.search_language IS DISTINCT FROM NEW.search_language)
  EXECUTE FUNCTION fragments_fts_language()""",
]


# --- the overview's weekly counts, kept by triggers -------------------------------------------------------

def _week(dialect: str, column: str) -> str:
    # The Monday (UTC) of a capture, exactly as api/projects/overview.py's week_start computes it.
    if dialect == "sqlite":
        return f"date({column}, 'weekday 0', '-6 days')"
    return f"CAST(date_trunc('week', timezone('UTC', {column})) AS date)"


def _upsert(dialect: str) -> str:
    n = "n" if dialect == "sqlite" else "overview_counts.n"
    return f"ON CONFLICT (project_id, dimension, key, week) DO UPDATE SET n = {n} + excluded.n"


def _contributions(dialect: str, row: str, sign: str) -> str:
    """Add (sign 1) or take away (-1) everything one fragment row counts for, if it is active."""
    return f"""INSERT INTO overview_counts (project_id, dimension, key, week, n)
    SELECT {row}.project_id, d.dimension, d.key, {_week(dialect, f"{row}.captured_at")}, {sign} FROM (
      SELECT 'all' AS dimension, {row}.project_id AS key
      UNION ALL SELECT 'place', {row}.place_id WHERE {row}.place_id IS NOT NULL
      UNION ALL SELECT 'prompt', {row}.prompt_id WHERE {row}.prompt_id IS NOT NULL
      UNION ALL SELECT 'sensitive', {row}.project_id WHERE {row}.sensitive
      UNION ALL SELECT 'unreviewed', {row}.project_id WHERE {row}.reviewed_at IS NULL
      UNION ALL SELECT 'researcher', {row}.researcher_id
      UNION ALL SELECT 'tag', tag_id FROM fragment_tags WHERE fragment_id = {row}.id
    ) AS d WHERE {row}.status = 'active'
    {_upsert(dialect)};"""


def _tag_contribution(dialect: str, row: str, sign: str) -> str:
    return f"""INSERT INTO overview_counts (project_id, dimension, key, week, n)
    SELECT f.project_id, 'tag', {row}.tag_id, {_week(dialect, "f.captured_at")}, {sign} FROM fragments AS f
    WHERE f.id = {row}.fragment_id AND f.status = 'active'
    {_upsert(dialect)};"""


FRAGMENT_COLUMNS = "status, place_id, prompt_id, captured_at, sensitive, reviewed_at"


def _sqlite_rollup() -> list[str]:
    d = "sqlite"
    return [
        f"CREATE TRIGGER overview_counts_fi AFTER INSERT ON fragments BEGIN {_contributions(d, 'new', '1')} END",
        f"CREATE TRIGGER overview_counts_fu AFTER UPDATE OF {FRAGMENT_COLUMNS} ON fragments BEGIN "
        f"{_contributions(d, 'old', '-1')} {_contributions(d, 'new', '1')} END",
        f"CREATE TRIGGER overview_counts_fd AFTER DELETE ON fragments BEGIN {_contributions(d, 'old', '-1')} END",
        f"CREATE TRIGGER overview_counts_ti AFTER INSERT ON fragment_tags BEGIN {_tag_contribution(d, 'new', '1')} END",
        f"CREATE TRIGGER overview_counts_tu AFTER UPDATE ON fragment_tags BEGIN "
        f"{_tag_contribution(d, 'old', '-1')} {_tag_contribution(d, 'new', '1')} END",
        f"CREATE TRIGGER overview_counts_td AFTER DELETE ON fragment_tags BEGIN {_tag_contribution(d, 'old', '-1')} END",
    ]


def _pg_rollup() -> list[str]:
    d = "postgresql"
    return [
        f"""CREATE FUNCTION overview_counts_fragments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN {_contributions(d, 'OLD', '-1')} END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN {_contributions(d, 'NEW', '1')} END IF;
  RETURN NULL;
END $$""",
        f"""CREATE TRIGGER overview_counts_fragments AFTER INSERT OR DELETE OR UPDATE OF {FRAGMENT_COLUMNS}
  ON fragments FOR EACH ROW EXECUTE FUNCTION overview_counts_fragments()""",
        f"""CREATE FUNCTION overview_counts_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN {_tag_contribution(d, 'OLD', '-1')} END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN {_tag_contribution(d, 'NEW', '1')} END IF;
  RETURN NULL;
END $$""",
        """CREATE TRIGGER overview_counts_tags AFTER INSERT OR DELETE OR UPDATE ON fragment_tags
  FOR EACH ROW EXECUTE FUNCTION overview_counts_tags()""",
    ]


def _backfill(dialect: str) -> str:
    week = _week(dialect, "f.captured_at")
    active = "f.status = 'active'"
    true = "1" if dialect == "sqlite" else "true"
    return f"""INSERT INTO overview_counts (project_id, dimension, key, week, n)
    SELECT project_id, dimension, key, week, count(*) FROM (
      SELECT f.project_id, 'all' AS dimension, f.project_id AS key, {week} AS week FROM fragments f WHERE {active}
      UNION ALL SELECT f.project_id, 'place', f.place_id, {week} FROM fragments f
        WHERE {active} AND f.place_id IS NOT NULL
      UNION ALL SELECT f.project_id, 'prompt', f.prompt_id, {week} FROM fragments f
        WHERE {active} AND f.prompt_id IS NOT NULL
      UNION ALL SELECT f.project_id, 'sensitive', f.project_id, {week} FROM fragments f
        WHERE {active} AND f.sensitive = {true}
      UNION ALL SELECT f.project_id, 'unreviewed', f.project_id, {week} FROM fragments f
        WHERE {active} AND f.reviewed_at IS NULL
      UNION ALL SELECT f.project_id, 'researcher', f.researcher_id, {week} FROM fragments f WHERE {active}
      UNION ALL SELECT f.project_id, 'tag', t.tag_id, {week} FROM fragments f
        JOIN fragment_tags t ON t.fragment_id = f.id WHERE {active}
    ) AS c GROUP BY project_id, dimension, key, week"""


def upgrade() -> None:
    op.create_table('overview_counts',
    sa.Column('project_id', sa.Uuid(), nullable=False),
    sa.Column('dimension', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('key', sa.Uuid(), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_overview_counts_project_id_projects'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'dimension', 'key', 'week', name=op.f('pk_overview_counts'))
    )
    dialect = op.get_bind().dialect.name
    op.execute(_backfill(dialect))
    for statement in _sqlite_rollup() if dialect == "sqlite" else _pg_rollup():
        op.execute(statement)
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_language', sa.String(length=16), nullable=False,
                                      server_default='english'))
    # The filters a coordinator picks most, each a range of an index in capture order (keyset pages).
    with op.batch_alter_table('fragments', schema=None) as batch_op:
        batch_op.create_index('ix_fragments_project_place_captured', ['project_id', 'place_id', 'captured_at', 'id'],
                              unique=False)
        batch_op.create_index('ix_fragments_project_prompt_captured',
                              ['project_id', 'prompt_id', 'captured_at', 'id'], unique=False)
        # A researcher's latest capture (the overview) is the end of a range of this one; it serves the
        # researcher's own listing and the foreign key as the single-column index did.
        batch_op.drop_index('ix_fragments_researcher_id')
        batch_op.create_index('ix_fragments_researcher_captured', ['researcher_id', 'captured_at'], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        for name in OLD_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("ALTER TABLE fragments_fts_ids ADD COLUMN english BOOLEAN NOT NULL DEFAULT 1")
        op.execute("CREATE VIRTUAL TABLE fragments_fts_english USING fts5(text, content='', "
                   "tokenize='porter unicode61 remove_diacritics 2')")
        # Every project is English now: its words move to the stemmed table, the exact one starts empty.
        op.execute("INSERT INTO fragments_fts_english (rowid, text) SELECT i.rowid, f.text FROM fragments f "
                   "JOIN fragments_fts_ids i ON i.fragment_id = f.id WHERE f.text IS NOT NULL")
        op.execute("INSERT INTO fragments_fts (fragments_fts) VALUES ('delete-all')")
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
    else:
        op.execute("ALTER TABLE fragments ADD COLUMN search_vector tsvector")
        for statement in PG_FUNCTIONS:
            op.execute(statement)
        op.execute(f"UPDATE fragments SET search_vector = {PG_VECTOR.format(row='fragments')} "
                   "WHERE text IS NOT NULL")
        op.execute("CREATE INDEX fragments_fts_vector_idx ON fragments USING gin (search_vector)")
        op.execute("DROP INDEX fragments_fts_idx")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("fi", "fu", "fd", "ti", "tu", "td"):
            op.execute(f"DROP TRIGGER overview_counts_{name}")
    else:
        op.execute("DROP TRIGGER overview_counts_fragments ON fragments")
        op.execute("DROP TRIGGER overview_counts_tags ON fragment_tags")
        op.execute("DROP FUNCTION overview_counts_fragments()")
        op.execute("DROP FUNCTION overview_counts_tags()")
    op.drop_table('overview_counts')
    if op.get_bind().dialect.name == "sqlite":
        for name in (*OLD_TRIGGERS, "fragments_fts_language"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE fragments_fts_english")
        op.execute("INSERT INTO fragments_fts (fragments_fts) VALUES ('delete-all')")
        op.execute("INSERT INTO fragments_fts (rowid, text) SELECT i.rowid, f.text FROM fragments f "
                   "JOIN fragments_fts_ids i ON i.fragment_id = f.id WHERE f.text IS NOT NULL")
        op.execute("ALTER TABLE fragments_fts_ids DROP COLUMN english")
        for trigger in BACKBONE_TRIGGERS:
            op.execute(trigger)
    else:
        op.execute("CREATE INDEX fragments_fts_idx ON fragments USING gin (to_tsvector('simple', coalesce(text, '')))")
        op.execute("DROP TRIGGER fragments_fts_language ON projects")
        op.execute("DROP TRIGGER fragments_fts_vector ON fragments")
        op.execute("DROP FUNCTION fragments_fts_language()")
        op.execute("DROP FUNCTION fragments_fts_vector()")
        op.execute("DROP INDEX fragments_fts_vector_idx")
        op.execute("ALTER TABLE fragments DROP COLUMN search_vector")
    with op.batch_alter_table('fragments', schema=None) as batch_op:
        batch_op.drop_index('ix_fragments_researcher_captured')
        batch_op.create_index('ix_fragments_researcher_id', ['researcher_id'], unique=False)
        batch_op.drop_index('ix_fragments_project_prompt_captured')
        batch_op.drop_index('ix_fragments_project_place_captured')
    # Not batch mode: recreating `projects` on SQLite would cascade to every fragment.
    op.execute("ALTER TABLE projects DROP COLUMN search_language")

