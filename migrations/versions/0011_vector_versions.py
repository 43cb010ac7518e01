"""Every change of a posting reaches its vector rows, not only a change of the columns copied
beside them (migration 0006): the rows are then stamped as changed (migration 0009), so a
process holding the vectors in memory also learns each posting's new version and external id
at its next read, and can answer from memory without checking its finds against the postings
(service/posting_vectors.py).

The cost: an edit through the API, which re-embeds and so rewrites the vector row anyway, now
writes it once more from this trigger; what it buys is that any other writer (a script, an
operator's SQL) that changes a posting without its vector cannot leave processes with a stale
version, which would let them serve a cached profile of the old one.

Revision ID: 0011_vector_versions
Revises: 0010_vector_deletes
Create Date: 2026-11-29
"""

from alembic import op

revision = "0011_vector_versions"
down_revision = "0010_vector_deletes"
branch_labels = None
depends_on = None

FILTERS = ("lat", "lon", "remote_allowed", "valid_through")  # copied by migration 0006


def _trigger(columns: tuple[str, ...]) -> None:
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
    op.execute("DROP TRIGGER posting_filters_to_embeddings ON posting")
    op.execute(
        "CREATE TRIGGER posting_filters_to_embeddings AFTER UPDATE ON posting "
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION posting_filters_to_embeddings()"
    )


def upgrade() -> None:
    _trigger((*FILTERS, "version"))


def downgrade() -> None:
    _trigger(FILTERS)
