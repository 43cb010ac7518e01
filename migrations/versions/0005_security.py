"""Idempotency keys: the first response to a create, replayed for a retry with the same key.

Revision ID: 0005_security
Revises: 0004_models
Create Date: 2026-11-29
"""

from alembic import op

revision = "0005_security"
down_revision = "0004_models"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per (agency, key). It is inserted "pending" (status NULL) in its own transaction
    # before the create runs, so a concurrent request with the same key finds it and waits; the
    # first response is stored when the create succeeds. Rows expire after a day.
    op.execute(
        """
        CREATE TABLE idempotency_key (
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            key text NOT NULL,
            request_hash text NOT NULL,
            status integer,
            response jsonb,
            headers jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            completed_at timestamptz,
            CONSTRAINT idempotency_key_pkey PRIMARY KEY (agency_id, key)
        )
        """
    )
    op.execute("CREATE INDEX idempotency_key_created_idx ON idempotency_key (created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS idempotency_key")
