"""Job queue columns, the scoring-model registry and model activations.

Revision ID: 0004_models
Revises: 0003_review_audit
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004_models"
down_revision = "0003_review_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE job
            ADD COLUMN params jsonb NOT NULL DEFAULT '{}'::jsonb,
            ADD COLUMN phase text,
            ADD COLUMN error text,
            ADD COLUMN attempts integer NOT NULL DEFAULT 0,
            ADD COLUMN max_attempts integer NOT NULL DEFAULT 3,
            ADD COLUMN claimed_by text,
            ADD COLUMN started_at timestamptz,
            ADD COLUMN heartbeat_at timestamptz,
            ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false,
            ADD COLUMN created_by_role text
        """
    )
    # Workers claim the oldest queued job: a partial index keeps that cheap however long the
    # history grows.
    op.execute("CREATE INDEX job_queued_idx ON job (created_at) WHERE status = 'queued'")
    op.execute("CREATE INDEX job_running_idx ON job (heartbeat_at) WHERE status = 'running'")
    op.execute(
        """
        CREATE TABLE scoring_model (
            id uuid PRIMARY KEY,
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            version text NOT NULL,
            kind text NOT NULL,
            artifact jsonb NOT NULL,
            report jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by uuid,
            job_id uuid,
            CONSTRAINT scoring_model_agency_version_key UNIQUE (agency_id, version),
            CONSTRAINT scoring_model_kind_check CHECK (kind IN ('linear'))
        )
        """
    )
    # Append-only history of which model scores an agency's lists; the newest row is live.
    # model_id NULL means the default transparent scorer.
    op.execute(
        """
        CREATE TABLE model_activation (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            model_id uuid REFERENCES scoring_model (id) ON DELETE CASCADE,
            activated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            activated_by uuid,
            forced boolean NOT NULL DEFAULT false,
            reason text
        )
        """
    )
    op.execute("CREATE INDEX model_activation_agency_idx ON model_activation (agency_id, seq)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS model_activation")
    op.execute("DROP TABLE IF EXISTS scoring_model")
    op.execute("DROP INDEX IF EXISTS job_running_idx")
    op.execute("DROP INDEX IF EXISTS job_queued_idx")
    op.execute(
        """
        ALTER TABLE job
            DROP COLUMN IF EXISTS params, DROP COLUMN IF EXISTS phase, DROP COLUMN IF EXISTS error,
            DROP COLUMN IF EXISTS attempts, DROP COLUMN IF EXISTS max_attempts,
            DROP COLUMN IF EXISTS claimed_by, DROP COLUMN IF EXISTS started_at,
            DROP COLUMN IF EXISTS heartbeat_at, DROP COLUMN IF EXISTS cancel_requested,
            DROP COLUMN IF EXISTS created_by_role
        """
    )
