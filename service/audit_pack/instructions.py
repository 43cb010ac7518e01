"""Instructions for use (AI Act Art. 13), written from the live configuration: what the system
does, the inputs it needs, its limits, and how to oversee it. Every figure here is read from
settings, the agency's settings, the live model and the fairness policy in force."""

from __future__ import annotations

from typing import Any

from matching.score import DEFAULT_WEIGHTS
from service.accountability.repository import AgencySettings
from service.config import Settings


def instructions_for_use(
    *,
    settings: Settings,
    agency_settings: AgencySettings,
    live_model: dict[str, Any] | None,
    policy: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """Sections of (title, paragraphs) in plain words."""
    model = live_model["version"] if live_model else "default"
    learned = live_model is not None and live_model["version"] != "default"
    method = (policy or {}).get("policy", {}).get("method", "none")
    attributes = (policy or {}).get("policy", {}).get("attributes") or []
    weights = ", ".join(f"{k} {v:.2f}" for k, v in DEFAULT_WEIGHTS.items())
    s, a = settings, agency_settings
    return [
        {
            "title": "What the system does",
            "paragraphs": [
                "It ranks job postings for a job seeker, and job seekers for a posting, and "
                "explains each place: the factors that made the score, matched and missing "
                "skills, distance. It recommends; people decide. Every list is stored as shown.",
                f"Scoring model in force: {model}"
                + (
                    " (learned from this agency's decisions and outcomes; its held-out metrics "
                    "and gate result are in the model cards)."
                    if learned
                    else f" (published weights: {weights})."
                ),
                f"Text is embedded with {s.model_path or 'all-MiniLM-L6-v2 (bundled)'}; free "
                + (
                    "text is read against the ESCO classification to infer occupations and skills."
                    if s.understand_text
                    else "text is not interpreted: only stated ESCO codes count."
                ),
                f"Fairness policy in force: {method}"
                + (f" over {', '.join(attributes)}." if attributes else ".")
                + " Protected attributes never enter a score; with a policy they only re-order "
                "a candidate list, and only for seekers who consented.",
            ],
        },
        {
            "title": "Inputs it needs",
            "paragraphs": [
                "Seekers: desired occupations, skills, experience, education, languages, "
                "location with a travel radius, salary and contract wishes. Postings: title, "
                "occupation, required and preferred skills, location, salary, contract type.",
                "Missing fields count as unknown, never as a match: a profile without skills or "
                "location ranks on what it states (see the data card for how often fields are "
                "missing). Protected attributes are optional and used only with consent.",
                f"Candidates are drawn from the {s.match_candidate_pool} nearest by meaning "
                f"(plus {s.lexical_candidate_pool} by words); a seeker without a radius is "
                f"given {s.default_seeker_radius_km:g} km, widened in steps of "
                f"{s.radius_step_km:g} km when fewer than {s.min_nearby_postings} postings "
                "are near.",
            ],
        },
        {
            "title": "Limits",
            "paragraphs": [
                "Scores compare candidates for one request; they are not probabilities of "
                "success and not comparable across postings.",
                "Recommendations reflect the data: where past decisions were biased, a learned "
                "model can learn that bias through correlated fields. The activation gate "
                f"refuses a model whose top-10 impact ratio falls below "
                f"{s.fairness_gate_min_impact_ratio:g} or whose NDCG@10 is more than "
                f"{s.model_gate_tolerance:g} worse than the live model's; forcing is audited.",
                "Groups are known only for consenting seekers; fairness figures say nothing "
                "about the others (counted as unknown).",
            ],
        },
        {
            "title": "How to oversee it",
            "paragraphs": [
                "Caseworkers review stored lists and record decisions: shortlist, contact, "
                "reject with a reason, or override the rank. Watch the human-oversight section: "
                "a rank-order agreement near 1.0 for a caseworker means their selections "
                "follow the ranking closely (possible automation bias).",
                "Admins can switch back to the transparent default scorer at once "
                "(POST /v1/models/default:activate) and change the fairness policy; both are "
                "recorded with the acting person.",
                "The acting person is "
                + (
                    "required on every decision and change (Acting-Person header)."
                    if a.require_acting_person
                    else "recorded when the portal or console sends it (Acting-Person header); "
                    "the agency can require it."
                ),
                "Auditors read the audit log, reports, the model registry and stored lists; "
                + (
                    "this agency also lets them read seeker profiles."
                    if a.auditor_reads_profiles
                    else "seeker profiles stay closed to them."
                ),
                f"Records are kept: match lists {a.retention_match_list_days} days, decisions "
                f"{a.retention_decision_days}, outcomes {a.retention_outcome_days}, audit events "
                f"{a.retention_audit_event_days}, finished jobs {a.retention_job_days}. The "
                "audit log is hash-chained; verify it with GET /v1/audit-events/verification "
                "or `jobmatch audit verify`.",
            ],
        },
    ]
