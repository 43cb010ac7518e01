"""Simulated caseworker decisions and hiring outcomes for demo data and retraining tests.

Pure and deterministic (numpy ``Generator`` seeded by the caller); no database or web imports.
The service or the demo feeds it the stored match items (each with the ``features`` it was ranked
on and, for consenting seekers, ``groups``) and records the returned outcomes as decisions and
outcomes; :data:`FUNNEL` gives the events each outcome stands for.

The hidden preference
---------------------
Outcomes follow a preference the default scorer does not know: employers here care much more
about required-skill coverage and distance than ``DEFAULT_WEIGHTS`` say, and about semantic
similarity much less::

    u = -6 + 4·required_skills + 3·distance + 1·semantic      (unknown features count 0)

(the default weights are 0.20, 0.10 and 0.30). A retrained model should find this and beat the
default ranking on held-out outcomes.

Outcomes come from an ordered-logit model (McCullagh, "Regression models for ordinal data",
JRSS B 42(2), 1980): a latent ``z = u + bias + ε``, ε standard logistic, cut at
:data:`STAGE_CUTS` into the funnel stages ``hired`` (z > 0, so P(hired) = sigmoid(u + bias)),
``interviewed`` (interviewed, not hired), ``not_hired`` (applied, declined without interview),
``shortlist`` (shortlisted, went no further) and ``reject`` (rejected by the caseworker).

Biased outcomes
---------------
``bias`` (e.g. ``{"gender": {"female": -2.5}}``) shifts the latent of a group's members: a
deliberately discriminatory history, used to test that the fairness gate blocks a model trained
on it. Protected attributes never enter a model's features, so bias reaches a model only through
a feature correlated with the group (a proxy). :func:`synthetic_items` builds such data: with
its defaults women's pairs fit the posting's contract type (``employment_type``) far less often
(30 % against 90 %), as when more women look for part-time work. The hidden preference ignores
``employment_type``, so a model trained on unbiased outcomes gives it about no weight and ranks
the groups alike; trained on biased outcomes it learns a large ``employment_type`` weight, which
stands in for gender and pushes women out of the top k (impact ratio well below 0.8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

#: Weights of the hidden hiring preference (see the module docstring).
HIDDEN_WEIGHTS: Mapping[str, float] = {"required_skills": 4.0, "distance": 3.0, "semantic": 1.0}
HIDDEN_INTERCEPT = -6.0

#: Ordered-logit cut points: the first stage whose cut the latent exceeds; below all: reject.
STAGE_CUTS: tuple[tuple[str, float], ...] = (
    ("hired", 0.0),
    ("interviewed", -1.0),
    ("not_hired", -2.0),
    ("shortlist", -3.0),
)
OUTCOMES: tuple[str, ...] = ("hired", "interviewed", "not_hired", "shortlist", "reject")

#: The caseworker decisions and outcomes each simulated outcome stands for, in order.
FUNNEL: Mapping[str, tuple[str, ...]] = {
    "hired": ("shortlist", "applied", "interviewed", "hired"),
    "interviewed": ("shortlist", "applied", "interviewed", "not_hired"),
    "not_hired": ("shortlist", "applied", "not_hired"),
    "shortlist": ("shortlist",),
    "reject": ("reject",),
}

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""When the first synthetic list is produced (fixed, never today)."""


def hidden_utility(features: Mapping[str, Any]) -> float:
    """The hidden preference ``u`` of one pair (unknown features count 0)."""
    u = HIDDEN_INTERCEPT
    for name, w in HIDDEN_WEIGHTS.items():
        v = features.get(name)
        u += w * (0.0 if v is None else float(v))
    return u


def _shift(groups: Mapping[str, Any] | None, bias: Mapping[str, Mapping[str, float]]) -> float:
    if not groups:
        return 0.0
    out = 0.0
    for attr, per_group in bias.items():
        g = groups.get(attr)
        if g is not None:
            out += float(per_group.get(str(g), 0.0))
    return out


def simulate_labels(
    items: Sequence[Mapping[str, Any]],
    *,
    seed: int = 5,
    bias: Mapping[str, Mapping[str, float]] | None = None,
) -> list[str]:
    """One simulated outcome per item, one of :data:`OUTCOMES` (see the module docstring).

    Each item needs ``features`` (name → float or None) and may have ``groups`` (attribute →
    group); only ``bias`` reads the groups. The same items and seed always give the same list.
    """
    rng = np.random.default_rng(seed)
    noise = rng.logistic(size=len(items))
    out: list[str] = []
    for item, eps in zip(items, noise, strict=True):
        z = hidden_utility(item["features"]) + float(eps)
        if bias:
            z += _shift(item.get("groups"), bias)
        out.append(next((stage for stage, cut in STAGE_CUTS if z > cut), "reject"))
    return out


def _maybe(rng: np.random.Generator, value: float, p_unknown: float) -> float | None:
    return None if rng.random() < p_unknown else round(value, 6)


def synthetic_items(
    n_lists: int = 100,
    list_size: int = 25,
    *,
    seed: int = 5,
    start: datetime = START,
    proxy_feature: str = "employment_type",
    proxy_attribute: str = "gender",
    proxy_fit: Mapping[str, float] | None = None,
    base_fit: float = 0.9,
    unknown_share: float = 0.15,
) -> list[dict[str, Any]]:
    """Ranked lists of candidate seekers for postings, as match items with features and groups.

    List ``i`` is produced ``i`` days after ``start``; each holds ``list_size`` distinct seekers
    drawn from a pool of ``n_lists * list_size // 3`` (so seekers recur across lists, with fixed
    groups). Features are drawn independently of the groups except ``proxy_feature``, which is
    1 with probability ``proxy_fit[group of proxy_attribute]`` (default ``{"female": 0.3}``) and
    ``base_fit`` otherwise, else 0. ``unknown_share`` of seekers gave no consent (``groups``
    empty). Keys: ``list_id``, ``seeker_id``, ``posting_id``, ``at``, ``features``, ``groups``.
    """
    if n_lists < 1 or list_size < 1:
        raise ValueError("n_lists and list_size must be >= 1")
    fits = {"female": 0.3} if proxy_fit is None else dict(proxy_fit)
    rng = np.random.default_rng(seed)
    n_seekers = max(list_size, n_lists * list_size // 3)
    seekers: list[dict[str, Any]] = []
    for _ in range(n_seekers):
        if rng.random() < unknown_share:
            seekers.append({})
            continue
        r = rng.random()
        gender = "female" if r < 0.48 else ("male" if r < 0.96 else "non_binary")
        seekers.append(
            {
                "gender": gender,
                "age_band": str(rng.choice(["16-24", "25-34", "35-44", "45-54", "55-64"])),
                "disability": "true" if rng.random() < 0.12 else "false",
                "migrant_background": "true" if rng.random() < 0.3 else "false",
            }
        )
    items: list[dict[str, Any]] = []
    for i in range(n_lists):
        at = start + timedelta(days=i)
        chosen = rng.choice(n_seekers, size=list_size, replace=False)
        for s in chosen:
            groups = seekers[int(s)]
            features: dict[str, float | None] = {
                "semantic": _maybe(rng, float(rng.beta(2.0, 2.0)), 0.0),
                "lexical": None,  # the synthetic lists have no texts to compare
                "occupation": _maybe(rng, float(rng.choice([0.1, 0.25, 0.5, 0.8, 1.0])), 0.1),
                "required_skills": _maybe(rng, float(rng.random()), 0.1),
                "preferred_skills": _maybe(rng, float(rng.random()), 0.3),
                "distance": _maybe(rng, float(rng.random()), 0.05),
                "salary": _maybe(rng, float(min(1.0, rng.random() * 1.5)), 0.4),
                "employment_type": None,
                "experience": _maybe(rng, float(min(1.0, rng.random() * 1.3)), 0.3),
                "education": _maybe(rng, float(rng.choice([0.33, 0.67, 1.0])), 0.3),
                "languages": _maybe(rng, float(rng.choice([0.5, 1.0])), 0.5),
            }
            p_fit = fits.get(str(groups.get(proxy_attribute)), base_fit)
            features[proxy_feature] = 1.0 if rng.random() < p_fit else 0.0
            items.append(
                {
                    "list_id": f"list-{i:04d}",
                    "seeker_id": f"seeker-{int(s):05d}",
                    "posting_id": f"posting-{i:04d}",
                    "at": at,
                    "features": features,
                    "groups": dict(groups),
                }
            )
    return items
