"""Posting vectors say which transaction last wrote them, so that a process holding them in
memory (service/posting_vectors.py) can read just what changed since it last looked.

`changed_xid` is set on every insert and update (the filter copies of migration 0006 update the
row too). A reader keeps the snapshot of its last read and next takes the rows changed by a
transaction it could not see then: one still in progress (`pg_snapshot_xip`) or one from the
snapshot's `pg_snapshot_xmax` on. Nothing committed is missed, nothing is read twice, and no
clock is involved. Rows written before this migration have NULL and are read by the full load
only. Deletes leave no row to read (service/posting_vectors.py says how they are handled).

Revision ID: 0009_vector_changes
Revises: 0008_geo_prefilter
Create Date: 2026-11-29
"""

from alembic import op

revision = "0009_vector_changes"
down_revision = "0008_geo_prefilter"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE posting_embedding ADD COLUMN changed_xid xid8")
    op.execute(
        """
        CREATE FUNCTION posting_embedding_mark_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.changed_xid := pg_current_xact_id();
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER posting_embedding_mark_changed BEFORE INSERT OR UPDATE "
        "ON posting_embedding FOR EACH ROW EXECUTE FUNCTION posting_embedding_mark_changed()"
    )
    op.execute(
        "CREATE INDEX posting_embedding_changed_idx ON posting_embedding (changed_xid) "
        "WHERE changed_xid IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS posting_embedding_changed_idx")
    op.execute("DROP TRIGGER IF EXISTS posting_embedding_mark_changed ON posting_embedding")
    op.execute("DROP FUNCTION IF EXISTS posting_embedding_mark_changed()")
    op.execute("ALTER TABLE posting_embedding DROP COLUMN IF EXISTS changed_xid")
