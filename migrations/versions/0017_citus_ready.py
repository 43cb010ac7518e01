"""Keys that let the schema be distributed by agency with Citus (docs/scale-out.md).

Citus shards a table by one column and can only enforce a primary key, a unique constraint or
a foreign key on one shard, so each must include the distribution column, `agency_id`. Here:

- every tenant table's primary key and unique constraints lead with `agency_id`
  (`seeker (agency_id, id)`, `posting_embedding (agency_id, posting_id, model)`, ...);
- every foreign key between tenant tables carries `agency_id` on both sides, which also makes
  PostgreSQL itself refuse a list item, decision or vector pointing into another agency;
- `match_item` gets the `agency_id` of its list (backfilled, then NOT NULL);
- `posting_vector_deleted` gets the `agency_id` of the deleted vector and a primary key. Its
  rows cannot be attributed afterwards (their postings are gone), and they only live a day to
  tell running processes about deletions, so the few present are removed: run the migration
  with the service stopped, as every migration that rebuilds keys should be (it locks the
  tables while the keys are built), and each process reads its vectors afresh when it starts;
- `ranking_stop` (one row per agency or posting, kept unique by its two partial indexes, which
  lead with `agency_id` already) gets a generated `id` for a primary key `(agency_id, id)`.

The old key columns keep a plain (non-unique) index, so a lookup by id alone stays an index
scan. Which tables are distributed and which are reference tables: service/kit/distribution.py,
checked against this schema by tests/test_schema_rules.py.

Revision ID: 0017_citus_ready
Revises: 0016_console_sessions
Create Date: 2026-12-03
"""

from alembic import op

revision = "0017_citus_ready"
down_revision = "0016_console_sessions"
branch_labels = None
depends_on = None

# (table, constraint, kind, old columns, new columns); kind is "p" (primary key) or "u".
_KEYS = [
    ("seeker", "seeker_pkey", "p", "id", "agency_id, id"),
    ("posting", "posting_pkey", "p", "id", "agency_id, id"),
    ("match_list", "match_list_pkey", "p", "id", "agency_id, id"),
    ("match_item", "match_item_pkey", "p", "match_list_id, rank", "agency_id, match_list_id, rank"),
    ("decision", "decision_pkey", "p", "id", "agency_id, id"),
    ("outcome", "outcome_pkey", "p", "id", "agency_id, id"),
    ("job", "job_pkey", "p", "id", "agency_id, id"),
    ("scoring_model", "scoring_model_pkey", "p", "id", "agency_id, id"),
    ("model_activation", "model_activation_pkey", "p", "seq", "agency_id, seq"),
    ("audit_event", "audit_event_pkey", "p", "seq", "agency_id, seq"),
    ("audit_event", "audit_event_id_key", "u", "id", "agency_id, id"),
    (
        "seeker_embedding",
        "seeker_embedding_pkey",
        "p",
        "seeker_id, model",
        "agency_id, seeker_id, model",
    ),
    (
        "posting_embedding",
        "posting_embedding_pkey",
        "p",
        "posting_id, model",
        "agency_id, posting_id, model",
    ),
    ("seeker_protected", "seeker_protected_pkey", "p", "seeker_id", "agency_id, seeker_id"),
]

# (table, constraint, column, referenced table, referenced column); all ON DELETE CASCADE.
_FOREIGN_KEYS = [
    ("match_item", "match_item_match_list_id_fkey", "match_list_id", "match_list", "id"),
    ("match_item", "match_item_seeker_id_fkey", "seeker_id", "seeker", "id"),
    ("match_item", "match_item_posting_id_fkey", "posting_id", "posting", "id"),
    ("match_list", "match_list_seeker_id_fkey", "seeker_id", "seeker", "id"),
    ("match_list", "match_list_posting_id_fkey", "posting_id", "posting", "id"),
    ("decision", "decision_match_list_id_fkey", "match_list_id", "match_list", "id"),
    ("decision", "decision_seeker_id_fkey", "seeker_id", "seeker", "id"),
    ("decision", "decision_posting_id_fkey", "posting_id", "posting", "id"),
    ("outcome", "outcome_seeker_id_fkey", "seeker_id", "seeker", "id"),
    ("outcome", "outcome_posting_id_fkey", "posting_id", "posting", "id"),
    ("model_activation", "model_activation_model_id_fkey", "model_id", "scoring_model", "id"),
    ("seeker_embedding", "seeker_embedding_seeker_id_fkey", "seeker_id", "seeker", "id"),
    ("posting_embedding", "posting_embedding_posting_id_fkey", "posting_id", "posting", "id"),
    ("seeker_protected", "seeker_protected_seeker_id_fkey", "seeker_id", "seeker", "id"),
    ("posting_price", "posting_price_posting_id_fkey", "posting_id", "posting", "id"),
    ("ranking_stop", "ranking_stop_posting_fkey", "posting_id", "posting", "id"),
]


def _old_key_index(table: str, columns: str) -> str:
    return f"{table}_{columns.replace(', ', '_')}_idx"


def _mark_deleted_function(with_agency: bool) -> str:
    columns = "agency_id, posting_id, model" if with_agency else "posting_id, model"
    conflict = " ON CONFLICT DO NOTHING" if with_agency else ""
    return f"""
        CREATE OR REPLACE FUNCTION posting_embedding_mark_deleted() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO posting_vector_deleted ({columns})
                SELECT {columns} FROM gone{conflict};
            DELETE FROM posting_vector_deleted WHERE ctid = ANY(ARRAY(
                SELECT ctid FROM posting_vector_deleted
                WHERE deleted_at < now() - interval '1 day'
                LIMIT 1000 FOR UPDATE SKIP LOCKED));
            RETURN NULL;
        END $$
        """


def upgrade() -> None:
    # Backfill before the keys: a list item belongs to its list's agency.
    op.execute("ALTER TABLE match_item ADD COLUMN agency_id uuid")
    op.execute(
        "UPDATE match_item i SET agency_id = l.agency_id FROM match_list l "
        "WHERE l.id = i.match_list_id"
    )
    op.execute("ALTER TABLE match_item ALTER COLUMN agency_id SET NOT NULL")

    op.execute("DELETE FROM posting_vector_deleted")
    op.execute("ALTER TABLE posting_vector_deleted ADD COLUMN agency_id uuid NOT NULL")
    op.execute(
        "ALTER TABLE posting_vector_deleted ADD CONSTRAINT posting_vector_deleted_pkey "
        "PRIMARY KEY (agency_id, posting_id, model, deleted_xid)"
    )
    op.execute(_mark_deleted_function(with_agency=True))

    op.execute("ALTER TABLE ranking_stop ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid()")
    op.execute(
        "ALTER TABLE ranking_stop ADD CONSTRAINT ranking_stop_pkey PRIMARY KEY (agency_id, id)"
    )

    for table, name, *_ in _FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for table, name, kind, old, new in _KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        key = "PRIMARY KEY" if kind == "p" else "UNIQUE"
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {key} ({new})")
        op.execute(f"CREATE INDEX {_old_key_index(table, old)} ON {table} ({old})")
    for table, name, column, parent, parent_column in _FOREIGN_KEYS:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (agency_id, {column}) "
            f"REFERENCES {parent} (agency_id, {parent_column}) ON DELETE CASCADE"
        )


def downgrade() -> None:
    for table, name, *_ in _FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for table, name, kind, old, _new in reversed(_KEYS):
        op.execute(f"DROP INDEX {_old_key_index(table, old)}")
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        key = "PRIMARY KEY" if kind == "p" else "UNIQUE"
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {key} ({old})")
    for table, name, column, parent, parent_column in _FOREIGN_KEYS:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
            f"REFERENCES {parent} ({parent_column}) ON DELETE CASCADE"
        )
    op.execute("ALTER TABLE ranking_stop DROP COLUMN id")
    op.execute(_mark_deleted_function(with_agency=False))
    op.execute("ALTER TABLE posting_vector_deleted DROP CONSTRAINT posting_vector_deleted_pkey")
    op.execute("ALTER TABLE posting_vector_deleted DROP COLUMN agency_id")
    op.execute("ALTER TABLE match_item DROP COLUMN agency_id")
