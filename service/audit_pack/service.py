"""The audit pack of a period: model cards, data card, bias report, human oversight,
capacity and instructions for use, computed from stored lists, decisions, outcomes and the
live configuration (figures by `matching.audit_pack`; the capacity section's market figures
by the market report)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from matching.audit_pack import (
    DecisionRow,
    RankedList,
    group_shares,
    oversight,
    placement_impact,
    ranking_fairness,
    selection_impact,
)
from matching.fairness.policy import UNKNOWN
from service.accountability import repository as settings_db
from service.audit_pack import repository as pack_db
from service.audit_pack.instructions import instructions_for_use
from service.config import Settings
from service.records.protected_repository import FIELDS
from service.reports import service as reporting

# Postings listed in the capacity section (the most exposed per opening first).
CAPACITY_POSTINGS = 20
SELECTIONS = {
    "shortlisting": "shortlisted",
    "contact": "contacted",
    "hire": "hired",
}


def pseudonym(agency_id: UUID, person: str) -> str:
    """A stable pseudonym of a caseworker for the report: the same person reads the same in
    every pack of the agency, and the staff id itself is not printed."""
    digest = hashlib.sha256(f"{agency_id}:{person}".encode()).hexdigest()
    return f"cw-{digest[:8]}"


async def audit_pack(
    pool: asyncpg.Pool,
    *,
    agency_id: UUID,
    since: datetime,
    until: datetime,
    settings: Settings,
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        # One snapshot: every section counts the same rows.
        candidates = await pack_db.candidates(conn, agency_id=agency_id, since=since, until=until)
        placements = await pack_db.placements(conn, agency_id=agency_id, since=since, until=until)
        lists = await pack_db.lists(conn, agency_id=agency_id, since=since, until=until)
        decisions = await pack_db.decisions(conn, agency_id=agency_id, since=since, until=until)
        models, activations = await pack_db.models_and_activations(conn, agency_id=agency_id)
        policies = await pack_db.policies(conn, agency_id=agency_id)
        counts = await pack_db.seeker_counts(conn, agency_id=agency_id)
        groups = await pack_db.seeker_groups(conn, agency_id=agency_id)
        postings = await pack_db.posting_count(conn, agency_id=agency_id)
        agency_settings = await settings_db.get(conn, agency_id=agency_id)
        agency_name = await pack_db.agency_name(conn, agency_id=agency_id)
        capacity_policies = await pack_db.capacity_policies(conn, agency_id=agency_id)
        price_sets = await pack_db.price_sets(conn, agency_id=agency_id, since=since, until=until)
    # the market figures read the same tables in their own transaction
    market = await reporting.market_report(
        pool, agency_id=agency_id, since=since, until=until, limit=CAPACITY_POSTINGS
    )
    cards = model_cards(models, activations, since=since, until=until)
    policies_in_force = _in_force(policies, since=since, until=until)
    return {
        "agency": agency_name,
        "period": {"from": since.isoformat(), "to": until.isoformat()},
        "generated_at": datetime.now(UTC).isoformat(),
        "model_cards": cards,
        "data_card": _data_card(counts, groups, candidates, postings),
        "bias_report": _bias_report(candidates, placements, policies_in_force),
        "human_oversight": _oversight(agency_id, lists, decisions),
        "capacity": _capacity(capacity_policies, price_sets, market, since=since, until=until),
        "instructions_for_use": instructions_for_use(
            settings=settings,
            agency_settings=agency_settings,
            live_model=cards[-1] if cards else None,
            policy=policies[-1] if policies else None,
        ),
    }


def model_cards(
    models: list[dict[str, Any]],
    activations: list[dict[str, Any]],
    *,
    since: datetime,
    until: datetime,
) -> list[dict[str, Any]]:
    """One card per activation live at some time in the period (the default scorer included,
    as `default`), oldest first; before any activation the default scorer was live."""
    by_id = {m["id"]: m for m in models}
    spans: list[tuple[datetime | None, datetime | None, dict[str, Any] | None]] = []
    start: datetime | None = None
    current: dict[str, Any] | None = None
    for a in activations:
        spans.append((start, a["activated_at"], current))
        start, current = a["activated_at"], a
    spans.append((start, None, current))
    cards = []
    for begin, end, activation in spans:
        if (end is not None and end <= since) or (begin is not None and begin >= until):
            continue
        model = by_id.get(activation["model_id"]) if activation else None
        report = model["report"] if model else {}
        cards.append(
            {
                "version": model["version"] if model else "default",
                "kind": model["kind"] if model else "default (published weights)",
                "live_from": begin.isoformat() if begin else None,
                "live_until": end.isoformat() if end else None,
                "training_window": report.get("train_window"),
                "holdout_window": report.get("holdout_window"),
                "train_size": report.get("train_size"),
                "holdout_size": report.get("holdout_size"),
                "heldout_metrics": report.get("metrics"),
                "gate": report.get("gate"),
                "activated_by": activation["acted_by"] if activation else None,
                "activated_with_key": str(activation["activated_by"])
                if activation and activation["activated_by"]
                else None,
                "forced": activation["forced"] if activation else False,
                "reason": activation["reason"] if activation else None,
            }
        )
    return cards


def _in_force(
    policies: list[dict[str, Any]], *, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    out = []
    for i, p in enumerate(policies):
        ends = policies[i + 1]["created_at"] if i + 1 < len(policies) else None
        if p["created_at"] < until and (ends is None or ends > since):
            out.append(
                {
                    "version": p["version"],
                    "method": p["policy"].get("method"),
                    "attributes": p["policy"].get("attributes"),
                    "set_at": p["created_at"].isoformat(),
                    "set_by": p["acted_by"],
                }
            )
    return out


def _data_card(
    counts: dict[str, Any],
    groups: list[dict[str, Any]],
    candidates: list[dict[str, Any]],
    postings: int,
) -> dict[str, Any]:
    n = counts["seekers"] or 0
    missing = {
        k.removeprefix("no_"): (counts[k] / n if n else None) for k in counts if k.startswith("no_")
    }
    return {
        "seekers": n,
        "postings": postings,
        "missing_fields_share": missing,
        "consent_rate": counts["consented"] / n if n else None,
        "opted_out_of_profiling": counts["opted_out"],
        "groups_among_seekers": group_shares(groups, FIELDS),
        "groups_among_recommended": group_shares(candidates, FIELDS),
        "candidates_shown_in_period": len(candidates),
    }


def _bias_report(
    candidates: list[dict[str, Any]],
    placements: list[dict[str, Any]],
    policies_in_force: list[dict[str, Any]],
) -> dict[str, Any]:
    ranked: dict[str, list[RankedList]] = defaultdict(list)
    by_list: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for c in candidates:
        by_list[c["list_id"]].append(c)
    for row in placements:
        shown = by_list.get(row["list_id"], [])
        for attribute, cells in row["placement"].items():
            known = {g: v["pool"] for g, v in cells.items() if g != UNKNOWN and v["pool"]}
            total = sum(known.values())
            if not total:
                continue
            labels = [
                str(c[attribute]).lower() if isinstance(c[attribute], bool) else str(c[attribute])
                for c in shown
                if c.get(attribute) is not None
            ]
            ranked[attribute].append(RankedList(labels, {g: v / total for g, v in known.items()}))
    return {
        "attributes": list(FIELDS),
        "fairness_policies_in_force": policies_in_force,
        "top_k_placement": placement_impact(p["placement"] for p in placements),
        **{name: selection_impact(candidates, FIELDS, flag) for name, flag in SELECTIONS.items()},
        "ranking": {a: ranking_fairness(ranked[a]) for a in FIELDS},
        "notes": (
            "Seekers without consent are counted as unknown and left out of the ratios; "
            "categories under 2% of a calculation are excluded and reported (NYC LL144). "
            "p-values compare each category's rate with the most selected category's "
            "(Fisher exact, two-sided); they are not corrected for multiple comparisons."
        ),
    }


def _oversight(
    agency_id: UUID, lists: list[dict[str, Any]], decisions: list[dict[str, Any]]
) -> dict[str, Any]:
    rows = [
        DecisionRow(
            list_id=str(d["list_id"]),
            rank=d["rank"],
            action=d["action"],
            new_rank=d["new_rank"],
            person=pseudonym(agency_id, d["person"]),
        )
        for d in decisions
    ]
    out = oversight([str(lst["id"]) for lst in lists], rows)
    out["candidate_lists"] = sum(1 for lst in lists if lst["kind"] == "seekers_for_posting")
    return out


def _capacity(
    policies: list[dict[str, Any]],
    price_sets: list[dict[str, Any]],
    market: dict[str, Any],
    *,
    since: datetime,
    until: datetime,
) -> dict[str, Any]:
    """The capacity policies in force in the period, its rebalance runs (price versions) and
    the market figures of its job lists."""
    in_force = []
    for i, p in enumerate(policies):
        ends = policies[i + 1]["created_at"] if i + 1 < len(policies) else None
        if p["created_at"] < until and (ends is None or ends > since):
            policy = p["policy"]
            in_force.append(
                {
                    "version": p["version"],
                    "method": policy.get("method"),
                    "max_applications_per_opening": policy.get("max_applications_per_opening"),
                    "max_exposure_per_opening_per_week": policy.get(
                        "max_exposure_per_opening_per_week"
                    ),
                    "relevance_floor": policy.get("relevance_floor"),
                    "headroom": policy.get("headroom"),
                    "reason": policy.get("reason"),
                    "set_at": p["created_at"].isoformat(),
                    "set_with_key": str(p["created_by"]) if p["created_by"] else None,
                }
            )
    rebalances = [
        {
            "price_version": s["version"],
            "policy_version": s["policy_version"],
            "at": s["created_at"].isoformat(),
            "job_id": str(s["job_id"]) if s["job_id"] else None,
            **{k: s["summary"].get(k) for k in REBALANCE_FIGURES},
        }
        for s in price_sets
    ]
    figures = {k: market[k] for k in MARKET_FIGURES}
    return {
        "policies_in_force": in_force,
        "rebalances": rebalances,
        "market": {
            **figures,
            "most_exposed_postings": [
                {**p, "posting_id": str(p["posting_id"])} for p in market["postings"]
            ],
            "trend": [{**d, "day": d["day"].isoformat()} for d in market["trend"]],
        },
        "notes": (
            "Exposure counts each job list for a seeker: 1/log2(rank + 1) per posting shown. "
            "Gini, share never recommended, Congestion@10 and Coverage@10 are over the postings "
            "open in the period; relevance given up is the mean score job lists lost to the "
            "capacity policy."
        ),
    }


REBALANCE_FIGURES = (
    "postings",
    "seekers",
    "priced_postings",
    "max_price",
    "converged",
    "gini_load_before",
    "gini_load_after",
    "gini_exposure_before",
    "gini_exposure_after",
)
MARKET_FIGURES = (
    "k",
    "active_postings",
    "lists",
    "lists_under_capacity",
    "applications",
    "gini_exposure",
    "share_never_recommended",
    "congestion_at_10",
    "coverage_at_10",
    "mean_relevance_given_up",
    "postings_total",
)
