"""Capacity-aware matching: the per-agency capacity policy (versioned like the fairness policy),
congestion prices per posting stored with a version, what each seeker list did for capacity,
and the index the scheduler reads to know when a periodic job last ran.

Revision ID: 0014_capacity
Revises: 0013_record_changes
Create Date: 2026-12-02
"""

from alembic import op

revision = "0014_capacity"
down_revision = "0013_record_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE capacity_policy (
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            version integer NOT NULL,
            policy jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by uuid,
            CONSTRAINT capacity_policy_pkey PRIMARY KEY (agency_id, version)
        )
        """
    )
    # One row per computation; its prices in posting_price. The match route reads the newest.
    op.execute(
        """
        CREATE TABLE congestion_price_set (
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            version integer NOT NULL,
            policy_version integer NOT NULL,
            job_id uuid,
            summary jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT congestion_price_set_pkey PRIMARY KEY (agency_id, version)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE posting_price (
            agency_id uuid NOT NULL,
            version integer NOT NULL,
            posting_id uuid NOT NULL REFERENCES posting (id) ON DELETE CASCADE,
            price double precision NOT NULL,
            exposure double precision NOT NULL,
            applications integer NOT NULL,
            openings integer NOT NULL,
            CONSTRAINT posting_price_pkey PRIMARY KEY (agency_id, version, posting_id),
            CONSTRAINT posting_price_set_fkey FOREIGN KEY (agency_id, version)
                REFERENCES congestion_price_set (agency_id, version) ON DELETE CASCADE,
            CONSTRAINT posting_price_price_check CHECK (price >= 0)
        )
        """
    )
    op.execute("CREATE INDEX posting_price_posting_idx ON posting_price (posting_id)")
    # A seeker list's capacity block: policy and price versions, what was excluded or moved
    # down, the relevance given up, and its raw candidates (the demand the next prices see).
    op.execute("ALTER TABLE match_list ADD COLUMN capacity jsonb")
    op.execute(
        "CREATE INDEX outcome_applied_idx ON outcome (posting_id, created_at) "
        "WHERE outcome = 'applied'"
    )
    # The scheduler's question "when did the last job of this kind finish for this agency".
    op.execute("CREATE INDEX job_agency_kind_idx ON job (agency_id, kind, finished_at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS job_agency_kind_idx")
    op.execute("DROP INDEX IF EXISTS outcome_applied_idx")
    op.execute("ALTER TABLE match_list DROP COLUMN IF EXISTS capacity")
    op.execute("DROP TABLE IF EXISTS posting_price")
    op.execute("DROP TABLE IF EXISTS congestion_price_set")
    op.execute("DROP TABLE IF EXISTS capacity_policy")
