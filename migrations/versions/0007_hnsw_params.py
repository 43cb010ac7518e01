"""HNSW indexes with m = 32, ef_construction = 128 (were 16 and 64).

Job postings come in near-duplicate clusters (one employer's fifty branches, one template per
temp agency). With m = 16 a node keeps 32 neighbours on the bottom layer, so a cluster of more
than ~32 near-copies can close on itself: a search that enters it finds no way out, and even the
iterative scan ends early. On the benchmark's 100k postings (2,000 texts x 50 noisy copies)
recall@100 was 0.31 with m = 16 at any ef_search, 0.97 with m = 32 (bench/README.md). The
index takes about 2.5x longer to build and ~15% more space.

Rebuilding takes minutes on a large table; matching answers meanwhile with exact scans.

Revision ID: 0007_hnsw_params
Revises: 0006_retrieval_filters
Create Date: 2026-11-29
"""

from alembic import op

revision = "0007_hnsw_params"
down_revision = "0006_retrieval_filters"
branch_labels = None
depends_on = None


def _rebuild(m: int, ef_construction: int) -> None:
    for kind in ("seeker", "posting"):
        op.execute(f"DROP INDEX IF EXISTS {kind}_embedding_hnsw_idx")
        op.execute(
            f"CREATE INDEX {kind}_embedding_hnsw_idx ON {kind}_embedding "
            f"USING hnsw (embedding vector_cosine_ops) "
            f"WITH (m = {m}, ef_construction = {ef_construction})"
        )


def upgrade() -> None:
    _rebuild(32, 128)


def downgrade() -> None:
    _rebuild(16, 64)
