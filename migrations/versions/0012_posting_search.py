"""Full-text search over postings, the lexical half of hybrid retrieval.

Each posting keeps a `search_vector`: its title and occupation (weight A), skills (B) and
description (C), analysed with its agency's text-search configuration (`agency.text_search_config`,
default `english`). A BEFORE trigger fills it on every insert and update, so no writer can leave
it stale; a GIN index serves `@@` queries. Changing an agency's configuration takes effect for
postings written afterwards (re-save, or `UPDATE posting SET version = version` to rebuild).

Revision ID: 0012_posting_search
Revises: 0011_vector_versions
Create Date: 2026-12-02
"""

from alembic import op

revision = "0012_posting_search"
down_revision = "0011_vector_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE agency ADD COLUMN text_search_config regconfig NOT NULL DEFAULT 'english'"
    )
    op.execute("ALTER TABLE posting ADD COLUMN search_vector tsvector")
    op.execute(
        """
        CREATE FUNCTION posting_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            cfg regconfig;
            skills text;
        BEGIN
            SELECT a.text_search_config INTO cfg FROM agency a WHERE a.id = NEW.agency_id;
            cfg := coalesce(cfg, 'english'::regconfig);
            SELECT string_agg(s->>'name', ' ') INTO skills FROM jsonb_array_elements(
                coalesce(NEW.profile->'skills_required', '[]'::jsonb)
                || coalesce(NEW.profile->'skills_preferred', '[]'::jsonb)) AS s;
            NEW.search_vector :=
                setweight(to_tsvector(cfg, coalesce(NEW.profile->>'title', '') || ' '
                    || coalesce(NEW.profile->'occupation'->>'title', '')), 'A')
                || setweight(to_tsvector(cfg, coalesce(skills, '')), 'B')
                || setweight(to_tsvector(cfg, left(coalesce(NEW.profile->>'description', ''),
                    20000)), 'C');
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER posting_search_vector BEFORE INSERT OR UPDATE OF profile, agency_id "
        "ON posting FOR EACH ROW EXECUTE FUNCTION posting_search_vector()"
    )
    # Fill existing rows through the trigger; `profile = profile` changes no data or version.
    op.execute("UPDATE posting SET profile = profile")
    op.execute("CREATE INDEX posting_search_idx ON posting USING gin (search_vector)")


def downgrade() -> None:
    op.execute("DROP INDEX posting_search_idx")
    op.execute("DROP TRIGGER posting_search_vector ON posting")
    op.execute("DROP FUNCTION posting_search_vector()")
    op.execute("ALTER TABLE posting DROP COLUMN search_vector")
    op.execute("ALTER TABLE agency DROP COLUMN text_search_config")
