"""Fairness policy per agency, versioned: every change is a new row with who made it.

Revision ID: 0002_fairness_policy
Revises: 0001_initial
Create Date: 2026-11-29
"""

from alembic import op

revision = "0002_fairness_policy"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE fairness_policy (
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            version integer NOT NULL,
            policy jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by uuid,
            CONSTRAINT fairness_policy_pkey PRIMARY KEY (agency_id, version)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS fairness_policy")
