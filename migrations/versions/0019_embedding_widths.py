"""Vectors of any width: the embedding columns lose their fixed 384 so a model with wider vectors
(Universal Sentence Encoder multilingual, 512-d; `JOBMATCH_EMBEDDING_MODEL`) can be served,
and an agency's records can hold both models' vectors while it re-embeds.

pgvector's HNSW index needs one width, so there is one partial expression index per width the
service's models make (`matching.embed.EMBEDDING_MODELS`); a search casts to that width and
names it in its WHERE clause (`vector_dims(...) = n`), which lets the planner use the index.
Rebuilding the indexes takes a few minutes per 100k vectors.

Revision ID: 0019_embedding_widths
Revises: 0017_citus_ready
Create Date: 2026-12-03
"""

from alembic import op

revision = "0019_embedding_widths"
down_revision = "0017_citus_ready"
branch_labels = None
depends_on = None

# Written here, not imported: a migration must not change when the code does.
WIDTHS = (384, 512)
KINDS = ("seeker", "posting")


def upgrade() -> None:
    for kind in KINDS:
        op.execute(f"DROP INDEX IF EXISTS {kind}_embedding_hnsw_idx")
        op.execute(f"ALTER TABLE {kind}_embedding ALTER COLUMN embedding TYPE vector")
        for width in WIDTHS:
            op.execute(
                f"CREATE INDEX IF NOT EXISTS {kind}_embedding_hnsw_{width}_idx ON {kind}_embedding "
                f"USING hnsw ((embedding::vector({width})) vector_cosine_ops) "
                "WITH (m = 32, ef_construction = 128) "
                f"WHERE vector_dims(embedding) = {width}"
            )


def downgrade() -> None:
    for kind in KINDS:
        for width in WIDTHS:
            op.execute(f"DROP INDEX IF EXISTS {kind}_embedding_hnsw_{width}_idx")
        # Vectors of another width cannot be kept in a 384-d column.
        op.execute(f"DELETE FROM {kind}_embedding WHERE vector_dims(embedding) <> 384")
        op.execute(f"ALTER TABLE {kind}_embedding ALTER COLUMN embedding TYPE vector(384)")
        op.execute(
            f"CREATE INDEX {kind}_embedding_hnsw_idx ON {kind}_embedding "
            "USING hnsw (embedding vector_cosine_ops) WITH (m = 32, ef_construction = 128)"
        )
