"""How the schema would be distributed with Citus (docs/scale-out.md), in one place.

Every table with an `agency_id` column is a *distributed* table, sharded by `agency_id` and
co-located with the others, unless it is named below as a reference table. A table without
`agency_id` must be named below as a reference table (copied to every node) or as a global
table (kept on the coordinator only), each with its reason. `tests/test_schema_rules.py`
reads these lists and checks the live schema against them.
"""

from __future__ import annotations

DISTRIBUTION_COLUMN = "agency_id"

REFERENCE_TABLES: dict[str, str] = {
    "agency": (
        "the tenants themselves: every distributed table references it, and a foreign key "
        "from a distributed table may only point at a reference table or a co-located one"
    ),
    "api_key": (
        "authentication finds a key by the hash of its secret before any agency is known, "
        "so every node must be able to look it up; a handful of rows per agency, rarely written"
    ),
    "console_session": (
        "the console finds a session by the hash of its cookie before any agency is known, "
        "and joins it with api_key; written only at sign-in and sign-out"
    ),
}

GLOBAL_TABLES: dict[str, str] = {
    "alembic_version": "the schema version, read and written by migrations on the coordinator",
}

# Taxonomies (ESCO occupations and skills, the gazetteer) are not tables: they are files read
# at start-up (seed/, service/embeddings/understanding.py), so every API process holds them and
# no node needs them. Were they moved into PostgreSQL, they would be reference tables.

# Repository functions that read or write several agencies on purpose, with the reason. Each
# is a maintenance job or a lookup before the agency is known; none joins two agencies' rows.
CROSS_AGENCY_QUERIES: dict[str, str] = {
    "service/audit/repository.py:agencies_with_chains": (
        "maintenance: the agencies whose audit chain the periodic verification walks"
    ),
    "service/auth/repository.py:principal_and_record": (
        "one agency, but named by the key (a reference table) rather than by a parameter: "
        "the key and the record in one round trip; under Citus it reaches every shard, so "
        "there it would be two queries (docs/scale-out.md)"
    ),
    "service/background_jobs/repository.py:claim": (
        "the job queue: a worker takes the oldest queued job of any agency (docs/scale-out.md: "
        "under Citus this is a multi-shard UPDATE with a subquery, to be split in two)"
    ),
    "service/background_jobs/repository.py:reap_stale": (
        "maintenance: requeues or fails the jobs of every agency whose worker stopped beating"
    ),
    "service/capacity/repository.py:balanced_agencies": (
        "maintenance: the agencies whose capacity policy needs the periodic price job"
    ),
    "service/embeddings/repository.py:active_posting_vectors": (
        "start-up: loads the posting vectors of every agency into the process's memory"
    ),
    "service/embeddings/repository.py:agency_with_waiting_vectors": (
        "maintenance: an agency whose bulk-imported vectors wait to join the HNSW index"
    ),
    "service/embeddings/repository.py:vectors_waiting_for_index": (
        "monitoring: the vectors of all agencies waiting to join the HNSW index, for /metrics"
    ),
    "service/embeddings/repository.py:posting_vectors_changed": (
        "the change feed of the in-memory posting vectors, which serve every agency (reads "
        "transaction ids: one PostgreSQL only, docs/scale-out.md)"
    ),
    "service/health/repository.py:queue_by_kind": (
        "monitoring: the queue depth and age per job kind, summed over agencies, for /metrics"
    ),
    "service/health/repository.py:live_models": (
        "monitoring: the scoring model each agency ranks with, for /metrics"
    ),
    "service/kit/idempotency_repository.py:sweep": (
        "maintenance: deletes the expired idempotency keys of every agency"
    ),
    "service/match_lists/candidates_repository.py:active_posting_profiles": (
        "start-up: warms the process's posting cache, which serves every agency, page by page"
    ),
    "service/records/repository.py:agencies_missing_embeddings": (
        "maintenance: the agencies with records still to embed after a model switch"
    ),
}
