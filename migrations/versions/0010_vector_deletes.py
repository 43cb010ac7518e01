"""Deleted posting vectors leave a row saying so, read like the changes of migration 0009, so
that a process holding vectors in memory (service/posting_vectors.py) drops a deleted posting
at its next read instead of keeping it until a search happens to find it.

`posting_vector_deleted` keeps (posting_id, model) with the deleting transaction's id, written
by a statement trigger (one INSERT per DELETE, however many rows; cascades from a deleted
posting or agency fire it too). Rows older than a day are removed by the same trigger, a
thousand at a time and skipping rows another delete is removing: a process that has not read
for half that time reads everything again instead.

Revision ID: 0010_vector_deletes
Revises: 0009_vector_changes
Create Date: 2026-11-29
"""

from alembic import op

revision = "0010_vector_deletes"
down_revision = "0009_vector_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE posting_vector_deleted (
            posting_id uuid NOT NULL,
            model text NOT NULL,
            deleted_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            deleted_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    for column in ("deleted_xid", "deleted_at"):
        op.execute(f"CREATE INDEX ON posting_vector_deleted ({column})")
    op.execute(
        """
        CREATE FUNCTION posting_embedding_mark_deleted() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO posting_vector_deleted (posting_id, model)
                SELECT posting_id, model FROM gone;
            DELETE FROM posting_vector_deleted WHERE ctid = ANY(ARRAY(
                SELECT ctid FROM posting_vector_deleted
                WHERE deleted_at < now() - interval '1 day'
                LIMIT 1000 FOR UPDATE SKIP LOCKED));
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER posting_embedding_mark_deleted AFTER DELETE ON posting_embedding "
        "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
        "EXECUTE FUNCTION posting_embedding_mark_deleted()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS posting_embedding_mark_deleted ON posting_embedding")
    op.execute("DROP FUNCTION IF EXISTS posting_embedding_mark_deleted()")
    op.execute("DROP TABLE IF EXISTS posting_vector_deleted")
