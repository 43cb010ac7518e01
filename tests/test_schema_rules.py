"""The schema can be distributed by agency with Citus (docs/scale-out.md).

Read from the live schema, migrated to head on the embedded PostgreSQL:
- every table is distributed (it has `agency_id`), or a reference or global table named in
  `service/kit/distribution.py` with its reason;
- every distributed table has a primary key, and its primary key and every unique constraint or
  unique index lead with `agency_id` (Citus enforces uniqueness only within a shard);
- a foreign key between distributed tables maps `agency_id` to `agency_id` (co-located rows);
  a reference table references only reference tables; nothing references a global table.

Read from the source (`service/**/*repository.py`):
- every parameter compared with or stored in a vector is cast (`$n::vector`): Citus plans a
  distributed query without the type the extension would infer for an uncast parameter;
- every query on a distributed table compares `agency_id` with a parameter (or, an INSERT,
  writes it), unless the function is listed in `CROSS_AGENCY_QUERIES` with its reason;
- every join of a distributed table, and every subquery reading one, matches rows on
  `agency_id` (co-located joins, never two agencies' rows together).
These two are heuristics read from the text, not a proof that no query joins two agencies; the
composite foreign keys make rows of two agencies unable to point at each other, and these
checks keep new queries from forgetting the agency.

Each checker is also run on a deliberately wrong example, so that it is seen to fail.
"""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from service.kit.distribution import (
    CROSS_AGENCY_QUERIES,
    DISTRIBUTION_COLUMN,
    GLOBAL_TABLES,
    REFERENCE_TABLES,
)

ROOT = Path(__file__).resolve().parents[1]
AGENCY = DISTRIBUTION_COLUMN

# ----------------------------------------------------------------------------- live schema


async def _tables(conn: asyncpg.Connection, schema: str) -> dict[str, set[str]]:
    """Table name -> its column names."""
    rows = await conn.fetch(
        "SELECT c.relname AS table, a.attname AS column FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')",
        schema,
    )
    tables: dict[str, set[str]] = {}
    for r in rows:
        tables.setdefault(r["table"], set()).add(r["column"])
    return tables


async def schema_violations(
    conn: asyncpg.Connection,
    schema: str,
    *,
    reference: dict[str, str],
    global_: dict[str, str],
) -> list[str]:
    """What in `schema` stops it from being distributed by `agency_id`, one line per problem."""
    tables = await _tables(conn, schema)
    problems: list[str] = []
    for name in sorted(set(reference) | set(global_)):
        if name not in tables:
            problems.append(f"{name}: listed in service/kit/distribution.py but not a table")
        if name in reference and name in global_:
            problems.append(f"{name}: listed both as a reference and as a global table")
    distributed = {
        t
        for t, cols in tables.items()
        if AGENCY in cols and t not in reference and t not in global_
    }
    for name in sorted(set(tables) - distributed - set(reference) - set(global_)):
        problems.append(f"{name}: has no {AGENCY} and is not declared a reference or global table")

    not_null = await conn.fetch(
        "SELECT c.relname AS table FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND a.attname = $2 AND NOT a.attnotnull",
        schema,
        AGENCY,
    )
    for r in not_null:
        if r["table"] in distributed:
            problems.append(f"{r['table']}: {AGENCY} may be NULL")

    # Primary keys, unique constraints, unique (also partial) indexes and exclusion constraints:
    # every index that enforces uniqueness, with its key columns in order.
    unique = await conn.fetch(
        "SELECT t.relname AS table, i.relname AS index, x.indisprimary AS primary, "
        "ARRAY(SELECT a.attname FROM unnest(x.indkey[0:x.indnkeyatts - 1]) WITH ORDINALITY "
        "AS k(attnum, n) LEFT JOIN pg_attribute a ON a.attrelid = t.oid "
        "AND a.attnum = k.attnum ORDER BY k.n) AS columns "
        "FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = $1 AND (x.indisunique OR x.indisexclusion)",
        schema,
    )
    with_primary_key = {r["table"] for r in unique if r["primary"]}
    for name in sorted(distributed - with_primary_key):
        problems.append(f"{name}: no primary key")
    for r in unique:
        if r["table"] in distributed and (not r["columns"] or r["columns"][0] != AGENCY):
            columns = ", ".join(str(c) for c in r["columns"])  # None for an expression
            problems.append(f"{r['table']}: {r['index']} ({columns}) does not lead with {AGENCY}")

    foreign_keys = await conn.fetch(
        "SELECT c.conname AS name, t.relname AS table, f.relname AS parent, "
        "ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n) "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
        "ORDER BY k.n) AS columns, "
        "ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, n) "
        "JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum "
        "ORDER BY k.n) AS parent_columns "
        "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "JOIN pg_class f ON f.oid = c.confrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = $1 AND c.contype = 'f'",
        schema,
    )
    for r in foreign_keys:
        where = f"{r['table']}: {r['name']} -> {r['parent']}"
        if r["table"] in global_ or r["parent"] in global_:
            problems.append(f"{where}: a global table takes part in a foreign key")
        elif r["table"] in reference and r["parent"] not in reference:
            problems.append(f"{where}: a reference table may only reference reference tables")
        elif r["table"] in distributed and r["parent"] in distributed:
            pairs = set(zip(r["columns"], r["parent_columns"], strict=True))
            if (AGENCY, AGENCY) not in pairs:
                problems.append(f"{where}: does not map {AGENCY} to {AGENCY}")
    return problems


async def _live_schema_violations(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return await schema_violations(
            conn, "public", reference=REFERENCE_TABLES, global_=GLOBAL_TABLES
        )
    finally:
        await conn.close()


def test_the_migrated_schema_can_be_distributed_by_agency(database_url: str) -> None:
    assert asyncio.run(_live_schema_violations(database_url)) == []


async def _wrong_schema_violations(url: str) -> list[str]:
    """The checker on a schema that breaks each rule once (created and rolled back)."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute(
                """
                CREATE SCHEMA rules_check;
                CREATE TABLE rules_check.tenant (id uuid PRIMARY KEY);
                CREATE TABLE rules_check.person (
                    agency_id uuid NOT NULL, id uuid, email text,
                    PRIMARY KEY (agency_id, id), UNIQUE (email));
                CREATE TABLE rules_check.note (
                    agency_id uuid, id uuid PRIMARY KEY, person_id uuid,
                    FOREIGN KEY (agency_id, person_id) REFERENCES rules_check.person);
                CREATE TABLE rules_check.tag (
                    agency_id uuid NOT NULL, person_id uuid, label text,
                    FOREIGN KEY (person_id, agency_id) REFERENCES rules_check.person);
                CREATE TABLE rules_check.shared (
                    id uuid PRIMARY KEY, agency_id uuid NOT NULL, person_id uuid,
                    FOREIGN KEY (agency_id, person_id) REFERENCES rules_check.person);
                CREATE UNIQUE INDEX ON rules_check.tag (label);
                """
            )
            problems = await schema_violations(
                conn,
                "rules_check",
                reference={"shared": "for the test", "gone": "for the test"},
                global_={},
            )
            raise _Rollback(problems)
    except _Rollback as done:
        return done.problems
    finally:
        await conn.close()


class _Rollback(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems


def test_the_schema_checker_finds_each_kind_of_problem(database_url: str) -> None:
    problems = "\n".join(asyncio.run(_wrong_schema_violations(database_url)))
    for expected in (
        "gone: listed in service/kit/distribution.py but not a table",
        "tenant: has no agency_id and is not declared",
        "person: person_email_key (email) does not lead with agency_id",
        "note: agency_id may be NULL",
        "note: note_pkey (id) does not lead with agency_id",
        "tag: no primary key",
        "tag: tag_label_idx (label) does not lead with agency_id",
        "tag: tag_person_id_agency_id_fkey -> person: does not map agency_id to agency_id",
        "shared: shared_agency_id_person_id_fkey -> person: a reference table may only",
    ):
        assert expected in problems, (expected, problems)
    # the foreign key that maps agency_id to agency_id is not reported
    assert "note_agency_id_person_id_fkey" not in problems


# ----------------------------------------------------------------------------- repository SQL

_TABLE_REFERENCE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+(?:ONLY\s+)?([a-z_{}]+)", re.I)
_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def _repository_modules() -> list[Path]:
    return sorted((ROOT / "service").rglob("*repository.py"))


def _render(node: ast.AST, constants: dict[str, str]) -> str | None:
    """The text of a string literal; an f-string with its module constants filled in and any
    other replacement field kept as `{expression}`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                inner = value.value
                if isinstance(inner, ast.Name) and inner.id in constants:
                    parts.append(constants[inner.id])
                else:
                    parts.append("{" + ast.unparse(inner) + "}")
        return "".join(parts)
    return None


def _strings(node: ast.AST, constants: dict[str, str]) -> Iterator[str]:
    """Every string literal under `node` (an f-string once, not its pieces again), and the text
    of every module constant it names."""
    text = _render(node, constants)
    if text is not None:
        yield text
        return
    if isinstance(node, ast.Name) and node.id in constants:
        yield constants[node.id]
    for child in ast.iter_child_nodes(node):
        yield from _strings(child, constants)


def sql_by_function(source: str) -> dict[str, str]:
    """Function name -> all the SQL text its body holds (docstring left out), for the
    module-level functions of a repository module."""
    tree = ast.parse(source)
    constants: dict[str, str] = {}
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if value is None:
            continue
        text = " ".join(_strings(value, constants))
        for target in targets:
            if isinstance(target, ast.Name) and text:
                constants[target.id] = text
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if ast.get_docstring(node) is not None:
                body = body[1:]
            found[node.name] = " ".join(s for stmt in body for s in _strings(stmt, constants))
    return found


def _all_sql() -> dict[str, str]:
    """'service/x/repository.py:function' -> its SQL, for every repository module."""
    return {
        f"{path.relative_to(ROOT)}:{name}": sql
        for path in _repository_modules()
        for name, sql in sql_by_function(path.read_text()).items()
    }


# A vector operator next to a parameter, either side, not followed by a cast to a vector type.
_VECTOR_OPERATOR = r"(?:<=>|<->|<#>|<\+>)"
_CAST = r"::(?:vector|halfvec|sparsevec)\b"
_UNCAST_NEXT_TO_OPERATOR = re.compile(
    rf"{_VECTOR_OPERATOR}\s*\(?\s*\$\d+(?!\d|{_CAST})|\$\d+(?!\d|{_CAST})\s*\)?\s*{_VECTOR_OPERATOR}"
)
_INSERT = re.compile(
    r"INSERT\s+INTO\s+[\w{}]+\s*\(([^)]*)\)\s*VALUES\s*\((.*?)\)\s*(?:ON|RETURNING|$)", re.I | re.S
)


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()]


def uncast_vector_parameters(sql: str, vector_columns: set[str]) -> list[str]:
    """The fragments of `sql` that pass a parameter as a vector without `::vector`."""
    found = [m.group(0) for m in _UNCAST_NEXT_TO_OPERATOR.finditer(sql)]
    for columns, values in _INSERT.findall(sql):
        names = [c.strip() for c in columns.split(",")]
        for name, value in zip(names, _split_top_level(values), strict=False):
            if name in vector_columns and re.fullmatch(r"\$\d+", value):
                found.append(f"{name} <- {value}")
    for name in vector_columns:
        for m in re.finditer(rf"\b{name}\s*=\s*\$\d+(?!\d|{_CAST})", sql):
            found.append(m.group(0))
    return found


async def _vector_columns(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND udt_name IN ('vector', 'halfvec', 'sparsevec')"
        )
    finally:
        await conn.close()
    return {r["column_name"] for r in rows}


def test_vector_parameters_are_cast_explicitly(database_url: str) -> None:
    vector_columns = asyncio.run(_vector_columns(database_url))
    assert vector_columns  # the schema has vectors: the scan below looks for something
    bad = {
        where: found
        for where, sql in _all_sql().items()
        if (found := uncast_vector_parameters(sql, vector_columns))
    }
    assert bad == {}


def test_the_vector_cast_check_finds_uncast_parameters() -> None:
    columns = {"embedding"}
    assert uncast_vector_parameters("ORDER BY e.embedding <=> $3 LIMIT $4", columns)
    assert uncast_vector_parameters("WHERE $12 <-> e.embedding < 1", columns)
    assert uncast_vector_parameters(
        "INSERT INTO x (id, embedding) VALUES ($1, $2) ON CONFLICT DO NOTHING", columns
    )
    assert uncast_vector_parameters("UPDATE x SET embedding = $2 WHERE id = $1", columns)
    assert not uncast_vector_parameters(
        "INSERT INTO x (id, embedding) VALUES ($1, $2::vector) ON CONFLICT DO NOTHING "
        "SELECT 1 - (e.embedding <=> $3::vector), e.embedding <#> $31::halfvec "
        "UPDATE x SET embedding = $2::vector",
        columns,
    )


# `agency_id` compared with a parameter (`agency_id = $1`, `agency_id = ANY($2)`), or among the
# columns an INSERT writes. A column merely selected, or only joined on (`= k.agency_id`), does
# not count: then the query is not held to one agency's shard.
_NAMES_AGENCY = re.compile(
    rf"{AGENCY}\s*=\s*(?:\$\d+|ANY\s*\(\s*\$\d+)|\$\d+\s*=\s*[\w.]*\b{AGENCY}\b"
    rf"|INSERT\s+INTO\s+[\w{{}}]+\s*\([^)]*\b{AGENCY}\b",
    re.I,
)


def _is_distributed(name: str, distributed: set[str]) -> bool:
    """Whether the table `name` is distributed; a name made in Python (`{kind}_embedding`)
    is when some distributed table fits it."""
    if "{" not in name:
        return name in distributed
    pattern = re.compile(_PLACEHOLDER.sub("[a-z_]+", name) + "$")
    return any(pattern.match(t) for t in distributed)


def queries_without_agency(sql_by_place: dict[str, str], distributed: set[str]) -> list[str]:
    """Places whose SQL reads or writes a distributed table without comparing `agency_id` with
    a parameter (or, for an INSERT, writing it). A table name made in Python (`{kind}_embedding`)
    counts as distributed when some distributed table fits it."""

    return sorted(
        place
        for place, sql in sql_by_place.items()
        if not _NAMES_AGENCY.search(sql)
        and any(_is_distributed(t, distributed) for t in _TABLE_REFERENCE.findall(sql))
    )


# `JOIN table alias ON condition` and a subquery's `(SELECT ... FROM table alias WHERE condition`,
# the condition up to the next clause or closing parenthesis.
_JOIN = re.compile(
    r"\bJOIN\s+([a-z_{}]+)\s+(?:AS\s+)?([a-z_]\w*)\s+ON\s+(.*?)"
    r"(?=\b(?:LEFT|RIGHT|FULL|INNER|CROSS|JOIN|WHERE|GROUP|ORDER|LIMIT|UNION)\b|\)|$)",
    re.I | re.S,
)
_SUBQUERY = re.compile(
    r"\(\s*SELECT\b(?:[^()]|\([^()]*\))*?\bFROM\s+([a-z_{}]+)\s+(?:AS\s+)?([a-z_]\w*)\s+WHERE\s+(.*?)"
    r"(?=\b(?:GROUP|ORDER|LIMIT)\b|\)|$)",
    re.I | re.S,
)


def joins_without_agency(sql_by_place: dict[str, str], distributed: set[str]) -> list[str]:
    """'place: table alias' for each distributed table joined (or read by a subquery) on a
    condition without `agency_id`: Citus joins co-located tables shard by shard only when
    their rows are matched on the distribution column."""

    found = []
    for place, sql in sql_by_place.items():
        for pattern in (_JOIN, _SUBQUERY):
            for table, alias, condition in pattern.findall(sql):
                if _is_distributed(table, distributed) and AGENCY not in condition:
                    found.append(f"{place}: {table} {alias}")
    return sorted(found)


def test_joins_of_distributed_tables_carry_the_agency(database_url: str) -> None:
    distributed = asyncio.run(_distributed_tables(database_url))
    sql = {p: s for p, s in _all_sql().items() if p not in CROSS_AGENCY_QUERIES}
    assert joins_without_agency(sql, distributed) == []


def test_the_join_check_finds_a_join_without_the_agency() -> None:
    source = """
async def good(conn, agency_id):
    return await conn.fetch(
        "SELECT 1 FROM match_list l JOIN match_item i ON i.agency_id = l.agency_id "
        "AND i.match_list_id = l.id LEFT JOIN seeker s ON s.agency_id = i.agency_id "
        "AND s.id = i.seeker_id WHERE l.agency_id = $1", agency_id)

async def bad(conn, agency_id):
    return await conn.fetch(
        "SELECT EXISTS (SELECT 1 FROM decision d WHERE d.match_list_id = l.id) "
        "FROM match_list l LEFT JOIN seeker s ON s.id = l.seeker_id WHERE l.agency_id = $1",
        agency_id)
"""
    found = joins_without_agency(
        sql_by_function(source), {"match_list", "match_item", "seeker", "decision"}
    )
    assert found == ["bad: decision d", "bad: seeker s"]


async def _distributed_tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        tables = await _tables(conn, "public")
    finally:
        await conn.close()
    return {
        t
        for t, cols in tables.items()
        if AGENCY in cols and t not in REFERENCE_TABLES and t not in GLOBAL_TABLES
    }


def test_queries_on_distributed_tables_name_the_agency(database_url: str) -> None:
    distributed = asyncio.run(_distributed_tables(database_url))
    sql = _all_sql()
    assert len(sql) > 100  # the scan reads the repositories
    unlisted = [
        p for p in queries_without_agency(sql, distributed) if p not in CROSS_AGENCY_QUERIES
    ]
    assert unlisted == [], "name the agency, or list the function with its reason"
    stale = sorted(set(CROSS_AGENCY_QUERIES) - set(queries_without_agency(sql, distributed)))
    assert stale == [], "listed in CROSS_AGENCY_QUERIES but the query names the agency or is gone"


def test_the_agency_check_finds_a_query_without_the_agency() -> None:
    source = '''
_COLUMNS = "id, profile"

async def by_id(conn, record_id):
    """Reads one record."""
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM seeker WHERE id = $1", record_id)

async def of_agency(conn, agency_id, kind):
    return await conn.fetch(f"SELECT 1 FROM {kind}_embedding WHERE agency_id = $1", agency_id)

async def vectors(conn, kind, record_id):
    return await conn.fetch(f"SELECT embedding FROM {kind}_embedding WHERE {kind}_id = $1",
                            record_id)

async def version(conn):
    return await conn.fetchval("SELECT version_num FROM alembic_version")

async def agencies(conn):
    return await conn.fetch("SELECT DISTINCT agency_id FROM seeker")

async def joined_only(conn, name):
    return await conn.fetch(
        "SELECT s.id FROM agency a JOIN seeker s ON s.agency_id = a.id WHERE a.name = $1", name)

async def insert(conn, agency_id):
    await conn.execute("INSERT INTO seeker (id, agency_id) VALUES ($1, $2)", uuid4(), agency_id)
'''
    found = queries_without_agency(
        sql_by_function(source), {"seeker", "posting", "seeker_embedding"}
    )
    assert found == ["agencies", "by_id", "joined_only", "vectors"]


# A DELETE's or UPDATE's own text once its subqueries are cut out: from the table to
# RETURNING or the next statement (a function's literals are read as one text).
_WRITE = re.compile(
    r"\b(?:DELETE\s+FROM|UPDATE)\s+(?:ONLY\s+)?(?!SET\b)([a-z_{}]+)\b(.*?)"
    r"(?=\bRETURNING\b|\b(?:DELETE|UPDATE|INSERT|SELECT)\b|$)",
    re.I | re.S,
)


def _without_subqueries(sql: str) -> str:
    """`sql` with every parenthesised SELECT cut out."""
    while found := re.search(r"\(\s*SELECT\b", sql, re.I):
        depth, end = 0, found.start()
        for end in range(found.start(), len(sql)):
            depth += sql[end] == "("
            depth -= sql[end] == ")"
            if depth == 0:
                break
        sql = sql[: found.start()] + " " + sql[end + 1 :]
    return sql


def writes_without_agency(sql_by_place: dict[str, str], distributed: set[str]) -> list[str]:
    """'place: table' for each DELETE or UPDATE of a distributed table whose own condition does
    not compare `agency_id` with a parameter, even if a subquery does: Citus routes a write to
    one shard only by its own condition, and the primary keys lead with `agency_id`."""

    return sorted(
        f"{place}: {table}"
        for place, sql in sql_by_place.items()
        for table, condition in _WRITE.findall(_without_subqueries(sql))
        if _is_distributed(table, distributed) and not _NAMES_AGENCY.search(condition)
    )


def test_writes_to_distributed_tables_name_the_agency_in_their_own_condition(
    database_url: str,
) -> None:
    distributed = asyncio.run(_distributed_tables(database_url))
    sql = {p: s for p, s in _all_sql().items() if p not in CROSS_AGENCY_QUERIES}
    assert writes_without_agency(sql, distributed) == []


def test_the_write_check_finds_a_write_held_to_the_agency_only_by_its_subquery() -> None:
    source = """
async def retention(conn, agency_id):
    await conn.execute("DELETE FROM outcome WHERE id IN (SELECT id FROM outcome "
                       "WHERE agency_id = $1 LIMIT 10)", agency_id)

async def held(conn, agency_id):
    await conn.execute("DELETE FROM outcome WHERE agency_id = $1 AND id IN (SELECT id "
                       "FROM outcome WHERE agency_id = $1 LIMIT 10)", agency_id)

async def two(conn, agency_id, record_id):
    await conn.execute("UPDATE seeker SET x = 1 WHERE agency_id = $1", agency_id)
    await conn.execute("DELETE FROM seeker_protected WHERE seeker_id = $1", record_id)

async def upsert(conn, agency_id):
    await conn.execute("INSERT INTO seeker (agency_id, id) VALUES ($1, $2) "
                       "ON CONFLICT (agency_id, id) DO UPDATE SET x = 1", agency_id, 1)

async def tenant(conn, agency_id):
    await conn.execute("UPDATE agency SET name = $2 WHERE id = $1", agency_id, "x")

async def joined(conn, agency_id):
    await conn.execute("UPDATE seeker e SET x = 1 FROM (SELECT id FROM seeker WHERE "
                       "agency_id = $1 LIMIT 5) w WHERE e.agency_id = $1 AND e.id = w.id",
                       agency_id)
    await conn.execute("UPDATE outcome SET y = (SELECT max(z) FROM outcome "
                       "WHERE agency_id = $1) WHERE id = $2", agency_id, 2)
"""
    found = writes_without_agency(
        sql_by_function(source), {"outcome", "seeker", "seeker_protected"}
    )
    assert found == ["joined: outcome", "retention: outcome", "two: seeker_protected"]


def test_the_scale_out_guide_distributes_every_table(database_url: str) -> None:
    """docs/scale-out.md's statements name every distributed and reference table as such."""
    guide = (ROOT / "docs" / "scale-out.md").read_text()
    distributed = asyncio.run(_distributed_tables(database_url))
    said_distributed = set(re.findall(r"create_distributed_table\('(\w+)', 'agency_id'", guide))
    said_reference = set(re.findall(r"create_reference_table\('(\w+)'\)", guide))
    assert said_distributed == distributed
    assert said_reference == set(REFERENCE_TABLES)
