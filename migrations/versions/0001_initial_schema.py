"""Initial schema: agencies, keys, seekers (+ protected data apart), postings, embeddings,
match lists, jobs.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-29
"""

from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# Embedding width of the default model (all-MiniLM-L6-v2). A model of another width needs a
# migration of its own; the service refuses to start with a mismatched model.
DIM = 384


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        """
        CREATE TABLE agency (
            id uuid PRIMARY KEY,
            name text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT agency_name_key UNIQUE (name)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE api_key (
            id uuid PRIMARY KEY,
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            role text NOT NULL,
            name text NOT NULL,
            prefix text NOT NULL,
            secret_hash bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by uuid,
            revoked_at timestamptz,
            CONSTRAINT api_key_role_check
                CHECK (role IN ('portal', 'caseworker', 'admin', 'auditor')),
            CONSTRAINT api_key_secret_hash_key UNIQUE (secret_hash)
        )
        """
    )
    op.execute("CREATE INDEX api_key_agency_idx ON api_key (agency_id)")
    op.execute(
        """
        CREATE TABLE seeker (
            id uuid PRIMARY KEY,
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            external_id text NOT NULL,
            profile jsonb NOT NULL,
            lat double precision,
            lon double precision,
            max_distance_km double precision,
            personalised_ranking boolean NOT NULL DEFAULT true,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT seeker_agency_external_id_key UNIQUE (agency_id, external_id)
        )
        """
    )
    op.execute("CREATE INDEX seeker_agency_created_idx ON seeker (agency_id, created_at, id)")
    # Sensitive data (GDPR Art. 9, PIPL Art. 28) lives apart, so that roles, exports and
    # erasure can treat it on its own.
    op.execute(
        """
        CREATE TABLE seeker_protected (
            seeker_id uuid PRIMARY KEY REFERENCES seeker (id) ON DELETE CASCADE,
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            consent boolean NOT NULL,
            gender text,
            age_band text,
            disability boolean,
            migrant_background boolean,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE posting (
            id uuid PRIMARY KEY,
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            external_id text NOT NULL,
            profile jsonb NOT NULL,
            lat double precision,
            lon double precision,
            remote_allowed boolean NOT NULL DEFAULT false,
            valid_through timestamptz,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT posting_agency_external_id_key UNIQUE (agency_id, external_id)
        )
        """
    )
    op.execute("CREATE INDEX posting_agency_created_idx ON posting (agency_id, created_at, id)")
    op.execute("CREATE INDEX posting_agency_geo_idx ON posting (agency_id, lat, lon)")
    for kind in ("seeker", "posting"):
        op.execute(
            f"""
            CREATE TABLE {kind}_embedding (
                {kind}_id uuid NOT NULL REFERENCES {kind} (id) ON DELETE CASCADE,
                agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
                model text NOT NULL,
                embedding vector({DIM}) NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                CONSTRAINT {kind}_embedding_pkey PRIMARY KEY ({kind}_id, model)
            )
            """
        )
        op.execute(
            f"CREATE INDEX {kind}_embedding_hnsw_idx ON {kind}_embedding "
            "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
        op.execute(f"CREATE INDEX {kind}_embedding_agency_idx ON {kind}_embedding (agency_id)")
    op.execute(
        """
        CREATE TABLE match_list (
            id uuid PRIMARY KEY,
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            kind text NOT NULL,
            seeker_id uuid REFERENCES seeker (id) ON DELETE CASCADE,
            posting_id uuid REFERENCES posting (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by uuid,
            model_version text NOT NULL,
            embedding_model text NOT NULL,
            personalised boolean NOT NULL DEFAULT true,
            radius_km double precision,
            radius_widened_km double precision NOT NULL DEFAULT 0,
            candidates_considered integer NOT NULL,
            fairness_policy jsonb,
            policy_version integer,
            fairness jsonb,
            input_hash text NOT NULL,
            CONSTRAINT match_list_kind_check
                CHECK (kind IN ('postings_for_seeker', 'seekers_for_posting'))
        )
        """
    )
    op.execute("CREATE INDEX match_list_agency_created_idx ON match_list (agency_id, created_at)")
    op.execute("CREATE INDEX match_list_seeker_idx ON match_list (seeker_id)")
    op.execute("CREATE INDEX match_list_posting_idx ON match_list (posting_id)")
    op.execute(
        """
        CREATE TABLE match_item (
            match_list_id uuid NOT NULL REFERENCES match_list (id) ON DELETE CASCADE,
            rank integer NOT NULL,
            seeker_id uuid NOT NULL REFERENCES seeker (id) ON DELETE CASCADE,
            posting_id uuid NOT NULL REFERENCES posting (id) ON DELETE CASCADE,
            score double precision NOT NULL,
            factors jsonb NOT NULL,
            features jsonb NOT NULL,
            explanation jsonb NOT NULL,
            CONSTRAINT match_item_pkey PRIMARY KEY (match_list_id, rank)
        )
        """
    )
    op.execute("CREATE INDEX match_item_seeker_idx ON match_item (seeker_id)")
    op.execute("CREATE INDEX match_item_posting_idx ON match_item (posting_id)")
    op.execute(
        """
        CREATE TABLE job (
            id uuid PRIMARY KEY,
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            kind text NOT NULL,
            status text NOT NULL DEFAULT 'queued',
            created_by uuid,
            total integer NOT NULL DEFAULT 0,
            done integer NOT NULL DEFAULT 0,
            result jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            CONSTRAINT job_status_check
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled'))
        )
        """
    )
    op.execute("CREATE INDEX job_agency_idx ON job (agency_id, created_at)")


def downgrade() -> None:
    for table in (
        "job",
        "match_item",
        "match_list",
        "posting_embedding",
        "seeker_embedding",
        "posting",
        "seeker_protected",
        "seeker",
        "api_key",
        "agency",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
