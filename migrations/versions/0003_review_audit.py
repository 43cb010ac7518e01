"""Caseworker decisions, outcomes, and the append-only audit log.

Revision ID: 0003_review_audit
Revises: 0002_fairness_policy
Create Date: 2026-11-29
"""

from alembic import op

revision = "0003_review_audit"
down_revision = "0002_fairness_policy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # What the list showed of the other side when it was produced, so a stored list reads the
    # same after profiles change.
    op.execute("ALTER TABLE match_item ADD COLUMN external_id text, ADD COLUMN title text")
    op.execute(
        """
        CREATE TABLE decision (
            id uuid PRIMARY KEY,
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            match_list_id uuid NOT NULL REFERENCES match_list (id) ON DELETE CASCADE,
            rank integer NOT NULL,
            seeker_id uuid NOT NULL REFERENCES seeker (id) ON DELETE CASCADE,
            posting_id uuid NOT NULL REFERENCES posting (id) ON DELETE CASCADE,
            action text NOT NULL,
            reason_code text,
            note text,
            new_rank integer,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            created_by uuid NOT NULL,
            CONSTRAINT decision_action_check
                CHECK (action IN ('shortlist', 'reject', 'contact', 'override'))
        )
        """
    )
    op.execute("CREATE INDEX decision_list_idx ON decision (match_list_id, created_at)")
    op.execute("CREATE INDEX decision_pair_idx ON decision (seeker_id, posting_id)")
    op.execute("CREATE INDEX decision_posting_idx ON decision (posting_id)")
    op.execute(
        """
        CREATE TABLE outcome (
            id uuid PRIMARY KEY,
            agency_id uuid NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
            seeker_id uuid NOT NULL REFERENCES seeker (id) ON DELETE CASCADE,
            posting_id uuid NOT NULL REFERENCES posting (id) ON DELETE CASCADE,
            outcome text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            created_by uuid NOT NULL,
            CONSTRAINT outcome_outcome_check
                CHECK (outcome IN ('applied', 'interviewed', 'hired', 'not_hired'))
        )
        """
    )
    op.execute("CREATE INDEX outcome_pair_idx ON outcome (seeker_id, posting_id)")
    op.execute("CREATE INDEX outcome_posting_idx ON outcome (posting_id)")
    op.execute("CREATE INDEX outcome_agency_idx ON outcome (agency_id, created_at)")
    # The audit log (AI Act Art. 12): rows are only ever inserted. No foreign keys with cascades,
    # so that no deletion elsewhere can reach it; the trigger refuses UPDATE, DELETE, TRUNCATE.
    op.execute(
        """
        CREATE TABLE audit_event (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id uuid NOT NULL,
            agency_id uuid NOT NULL,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            actor_key_id uuid,
            actor_role text,
            action text NOT NULL,
            subject_type text,
            subject_id uuid,
            route text,
            details jsonb NOT NULL DEFAULT '{}'::jsonb,
            CONSTRAINT audit_event_id_key UNIQUE (id)
        )
        """
    )
    op.execute("CREATE INDEX audit_event_agency_seq_idx ON audit_event (agency_id, seq)")
    op.execute("CREATE INDEX audit_event_subject_idx ON audit_event (agency_id, subject_id)")
    op.execute("CREATE INDEX audit_event_actor_idx ON audit_event (agency_id, actor_key_id)")
    op.execute(
        """
        CREATE FUNCTION audit_event_refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change()"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS audit_event")
    op.execute("DROP FUNCTION IF EXISTS audit_event_refuse_change()")
    op.execute("DROP TABLE IF EXISTS outcome")
    op.execute("DROP TABLE IF EXISTS decision")
    op.execute(
        "ALTER TABLE match_item DROP COLUMN IF EXISTS external_id, DROP COLUMN IF EXISTS title"
    )
