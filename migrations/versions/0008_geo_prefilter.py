"""Geographic indexes beside the posting vectors, for the exact plan of candidate retrieval.

When few postings are in a seeker's reach, matching compares the query with each of them
instead of scanning the HNSW index (service/match_lists/repository.py, `posting_candidates`). These
indexes find them: on-site postings by a lat/lon box, remote ones by a partial index.

Revision ID: 0008_geo_prefilter
Revises: 0007_hnsw_params
Create Date: 2026-11-29
"""

from alembic import op

revision = "0008_geo_prefilter"
down_revision = "0007_hnsw_params"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Partial, with valid_through included, so that counting what is in reach reads the
    # indexes alone (index-only scans), never the wide rows that hold the vectors.
    op.execute(
        "CREATE INDEX posting_embedding_geo_idx ON posting_embedding (agency_id, model, lat, lon) "
        "INCLUDE (valid_through) WHERE NOT remote_allowed"
    )
    op.execute(
        "CREATE INDEX posting_embedding_remote_idx ON posting_embedding (agency_id, model) "
        "INCLUDE (valid_through) WHERE remote_allowed"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS posting_embedding_remote_idx")
    op.execute("DROP INDEX IF EXISTS posting_embedding_geo_idx")
