"""Vectors written by a bulk import join the HNSW index after the import, not during it.

Each vector row says whether it is `indexed`. The per-width HNSW indexes (migration 0019) only
hold indexed rows, so a bulk import stores its vectors without the graph inserts, which cost
PostgreSQL more than anything else an imported record does; the job worker sets `indexed`
batch by batch when it has no job to run (service/embeddings/service.py). A search reads the
HNSW index for indexed rows and compares the few rows still waiting one by one (the partial
index `..._unindexed_idx` finds them), so a record is found from the moment it is stored.

Setting `indexed` changes nothing a process holds in memory, so the posting vectors' change
feed (migration 0009) does not mark such an update as a change.

Rebuilding the HNSW indexes takes a few minutes per 100k vectors: run it with the service
stopped, as migration 0019.

Revision ID: 0020_deferred_vector_index
Revises: 0019_embedding_widths
Create Date: 2026-12-03
"""

from alembic import op

revision = "0020_deferred_vector_index"
down_revision = "0019_embedding_widths"
branch_labels = None
depends_on = None

# Written here, not imported: a migration must not change when the code does.
WIDTHS = (384, 512)
KINDS = ("seeker", "posting")


def _hnsw(kind: str, width: int, predicate: str) -> None:
    op.execute(f"DROP INDEX IF EXISTS {kind}_embedding_hnsw_{width}_idx")
    op.execute(
        f"CREATE INDEX {kind}_embedding_hnsw_{width}_idx ON {kind}_embedding "
        f"USING hnsw ((embedding::vector({width})) vector_cosine_ops) "
        f"WITH (m = 32, ef_construction = 128) WHERE {predicate}"
    )


def _mark_changed(skip_indexing: bool) -> None:
    skip = (
        """
            -- Joining the vector index: only `indexed` was set, nothing a reader holds changed.
            IF TG_OP = 'UPDATE' AND NEW.indexed AND NOT OLD.indexed THEN
                unchanged := OLD;
                unchanged.indexed := true;
                IF unchanged IS NOT DISTINCT FROM NEW THEN
                    RETURN NEW;
                END IF;
            END IF;"""
        if skip_indexing
        else ""
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION posting_embedding_mark_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            unchanged posting_embedding;
        BEGIN{skip}
            NEW.changed_xid := pg_current_xact_id();
            RETURN NEW;
        END $$
        """
    )


def upgrade() -> None:
    for kind in KINDS:
        op.execute(f"ALTER TABLE {kind}_embedding ADD COLUMN indexed boolean NOT NULL DEFAULT true")
        for width in WIDTHS:
            _hnsw(kind, width, f"vector_dims(embedding) = {width} AND indexed")
        op.execute(
            f"CREATE INDEX {kind}_embedding_unindexed_idx ON {kind}_embedding (agency_id, model) "
            "WHERE NOT indexed"
        )
    _mark_changed(skip_indexing=True)


def downgrade() -> None:
    _mark_changed(skip_indexing=False)
    for kind in KINDS:
        op.execute(f"DROP INDEX IF EXISTS {kind}_embedding_unindexed_idx")
        # Every vector joins the index again when it is rebuilt without the flag.
        op.execute(f"ALTER TABLE {kind}_embedding DROP COLUMN indexed")
        for width in WIDTHS:
            _hnsw(kind, width, f"vector_dims(embedding) = {width}")
