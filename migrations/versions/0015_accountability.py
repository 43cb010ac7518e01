"""Accountability: the person behind an action, per-agency retention and oversight settings,
and a hash chain over the audit log.

- `acted_by` (the opaque staff id sent in the `Acting-Person` header) on decisions, outcomes,
  fairness-policy versions, model activations and API keys (creation and revocation).
- Agency settings: whether `Acting-Person` is required, whether auditors may read profiles,
  and retention periods in days.
- audit_event: `acted_by`; `subject_ids` (every subject one request touched, GIN-indexed so a
  subject search still finds a page read); `prev_hash`/`hash`: each event's hash covers its
  content and the previous event's hash of the same agency. A BEFORE INSERT trigger computes
  it under a lock on the agency's `audit_chain` row (held until commit), and draws `seq` under
  that lock, so per agency the chain runs in `seq` order. Retention deletes old events only
  with the session setting `jobmatch.audit_retention = on`, after moving the chain's anchor
  (`anchor_seq`, `anchor_hash`) past them: the chain then verifies from the anchor.

Revision ID: 0015_accountability
Revises: 0013_record_changes
Create Date: 2026-12-02
"""

from alembic import op

revision = "0015_accountability"
down_revision = "0014_capacity"
branch_labels = None
depends_on = None

# The bytes each event's hash covers (after the previous hash): fields joined by U+001F, NULL
# as the empty string, the time in UTC with microseconds, details as PostgreSQL prints jsonb.
# service/audit/chain.py computes the same in Python to verify independently of this function.
CONTENT = """
CREATE FUNCTION audit_event_content(e audit_event) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT convert_to(concat_ws(chr(31),
        e.id::text,
        e.agency_id::text,
        to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        coalesce(e.actor_key_id::text, ''),
        coalesce(e.actor_role, ''),
        coalesce(e.acted_by, ''),
        e.action,
        coalesce(e.subject_type, ''),
        coalesce(e.subject_id::text, ''),
        coalesce(array_to_string(e.subject_ids, ','), ''),
        coalesce(e.route, ''),
        e.details::text
    ), 'UTF8')
$$
"""

CHAIN = """
CREATE FUNCTION audit_event_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous bytea;
BEGIN
    INSERT INTO audit_chain (agency_id) VALUES (NEW.agency_id) ON CONFLICT DO NOTHING;
    SELECT head_hash INTO previous FROM audit_chain WHERE agency_id = NEW.agency_id FOR UPDATE;
    -- seq is drawn under the lock: per agency, seq order is chain order
    NEW.seq := nextval(pg_get_serial_sequence('audit_event', 'seq'));
    IF NEW.subject_ids IS NULL AND NEW.subject_id IS NOT NULL THEN
        NEW.subject_ids := ARRAY[NEW.subject_id];
    END IF;
    NEW.prev_hash := previous;
    NEW.hash := sha256(previous || audit_event_content(NEW));
    UPDATE audit_chain SET head_hash = NEW.hash, head_seq = NEW.seq
        WHERE agency_id = NEW.agency_id;
    RETURN NEW;
END
$$
"""

REFUSE = """
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('jobmatch.audit_retention', true) = 'on' THEN
        RETURN OLD;  -- retention, after it anchored the chain past these events
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""

REFUSE_BEFORE = """
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""

# Events written before this migration are chained here, oldest first, per agency.
BACKFILL = """
DO $$
DECLARE
    r audit_event;
    previous bytea;
    current_agency uuid;
BEGIN
    FOR r IN SELECT * FROM audit_event ORDER BY agency_id, seq LOOP
        IF current_agency IS DISTINCT FROM r.agency_id THEN
            current_agency := r.agency_id;
            INSERT INTO audit_chain (agency_id) VALUES (r.agency_id);
            previous := '\\x0000000000000000000000000000000000000000000000000000000000000000';
        END IF;
        r.subject_ids := CASE WHEN r.subject_id IS NULL THEN NULL ELSE ARRAY[r.subject_id] END;
        r.prev_hash := previous;
        r.hash := sha256(previous || audit_event_content(r));
        UPDATE audit_event SET subject_ids = r.subject_ids, prev_hash = r.prev_hash, hash = r.hash
            WHERE seq = r.seq;
        UPDATE audit_chain SET head_hash = r.hash, head_seq = r.seq WHERE agency_id = r.agency_id;
        previous := r.hash;
    END LOOP;
END
$$
"""

ZERO = "'\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea"


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE agency
            ADD COLUMN require_acting_person boolean NOT NULL DEFAULT false,
            ADD COLUMN auditor_reads_profiles boolean NOT NULL DEFAULT false,
            ADD COLUMN retention_match_list_days integer NOT NULL DEFAULT 365,
            ADD COLUMN retention_decision_days integer NOT NULL DEFAULT 730,
            ADD COLUMN retention_outcome_days integer NOT NULL DEFAULT 730,
            ADD COLUMN retention_audit_event_days integer NOT NULL DEFAULT 400,
            ADD COLUMN retention_job_days integer NOT NULL DEFAULT 90
        """
    )
    for table in ("decision", "outcome", "fairness_policy", "model_activation", "api_key"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN acted_by text")
    op.execute("ALTER TABLE api_key ADD COLUMN revoked_acted_by text")
    op.execute("CREATE INDEX decision_agency_created_idx ON decision (agency_id, created_at)")
    op.execute(
        f"""
        CREATE TABLE audit_chain (
            agency_id uuid PRIMARY KEY,
            head_hash bytea NOT NULL DEFAULT {ZERO},
            head_seq bigint,
            anchor_seq bigint NOT NULL DEFAULT 0,
            anchor_hash bytea NOT NULL DEFAULT {ZERO},
            anchored_at timestamptz
        )
        """
    )
    op.execute(
        "ALTER TABLE audit_event ADD COLUMN acted_by text, ADD COLUMN subject_ids uuid[], "
        "ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea"
    )
    op.execute(CONTENT)
    op.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update_delete")
    op.execute(BACKFILL)
    op.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update_delete")
    op.execute(CHAIN)
    op.execute(
        "CREATE TRIGGER audit_event_chain BEFORE INSERT ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_chain()"
    )
    op.execute(REFUSE)
    op.execute("DROP INDEX audit_event_subject_idx")
    op.execute("CREATE INDEX audit_event_subjects_idx ON audit_event USING gin (subject_ids)")
    op.execute("CREATE INDEX audit_event_agency_at_idx ON audit_event (agency_id, at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS audit_event_agency_at_idx")
    op.execute("DROP INDEX IF EXISTS audit_event_subjects_idx")
    op.execute("CREATE INDEX audit_event_subject_idx ON audit_event (agency_id, subject_id)")
    op.execute(REFUSE_BEFORE)
    op.execute("DROP TRIGGER IF EXISTS audit_event_chain ON audit_event")
    op.execute("DROP FUNCTION IF EXISTS audit_event_chain()")
    op.execute("DROP FUNCTION IF EXISTS audit_event_content(audit_event)")
    op.execute(
        "ALTER TABLE audit_event DROP COLUMN acted_by, DROP COLUMN subject_ids, "
        "DROP COLUMN prev_hash, DROP COLUMN hash"
    )
    op.execute("DROP TABLE IF EXISTS audit_chain")
    op.execute("DROP INDEX IF EXISTS decision_agency_created_idx")
    op.execute("ALTER TABLE api_key DROP COLUMN revoked_acted_by")
    for table in ("decision", "outcome", "fairness_policy", "model_activation", "api_key"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN acted_by")
    op.execute(
        """
        ALTER TABLE agency
            DROP COLUMN require_acting_person,
            DROP COLUMN auditor_reads_profiles,
            DROP COLUMN retention_match_list_days,
            DROP COLUMN retention_decision_days,
            DROP COLUMN retention_outcome_days,
            DROP COLUMN retention_audit_event_days,
            DROP COLUMN retention_job_days
        """
    )
