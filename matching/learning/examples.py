"""Training data: graded labels from recorded events, labelled examples, the design matrix, and
the time split that holds out the latest period."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from matching.features import FEATURE_NAMES

FloatArray = npt.NDArray[np.float64]

DEFAULT_ATTRIBUTES: tuple[str, ...] = ("gender", "age_band", "disability", "migrant_background")

#: Graded relevance of each event a seeker–posting pair can have. The best event wins.
#: Caseworker decisions (``shortlist``, ``contact``, ``reject``) and outcomes (``applied``,
#: ``interviewed``, ``hired``, ``not_hired``) share one scale:
#:
#: * 3 -- ``hired``
#: * 2 -- ``interviewed``
#: * 1 -- ``shortlist`` / ``contact`` / ``applied`` (someone judged the pair worth pursuing)
#: * 0 -- ``reject`` / ``not_hired``
#:
#: Because the best event wins, ``not_hired`` after ``interviewed`` still counts the interview
#: (label 2): the employer judged the person worth meeting, which is what a ranking should find;
#: losing to one other candidate does not make the pair irrelevant. Likewise a pair shortlisted
#: and later rejected keeps label 1. Past-tense spellings are accepted.
EVENT_LABELS: Mapping[str, float] = {
    "hired": 3.0,
    "interviewed": 2.0,
    "shortlist": 1.0,
    "shortlisted": 1.0,
    "contact": 1.0,
    "contacted": 1.0,
    "applied": 1.0,
    "reject": 0.0,
    "rejected": 0.0,
    "not_hired": 0.0,
}

#: Events that say nothing about relevance: a rank ``override`` moves an item without saying
#: whether it fits (its direction is not an event).
IGNORED_EVENTS: frozenset[str] = frozenset({"override", "overridden"})


def label_from_events(events: Sequence[str]) -> float | None:
    """Graded relevance of a pair from its events (see :data:`EVENT_LABELS`); None when no event
    carries a label (an unlabelled pair is left out of training and evaluation).

    Events are case-insensitive. An event that is neither in :data:`EVENT_LABELS` nor in
    :data:`IGNORED_EVENTS` raises ValueError, so a new event type is mapped deliberately.
    """
    best: float | None = None
    for raw in events:
        event = raw.strip().lower()
        if event in IGNORED_EVENTS:
            continue
        if event not in EVENT_LABELS:
            raise ValueError(f"unknown event {raw!r}; known: {sorted(EVENT_LABELS)}")
        value = EVENT_LABELS[event]
        best = value if best is None else max(best, value)
    return best


@dataclass(frozen=True)
class Example:
    """One labelled pair of a ranked list.

    ``features`` are the pair features the list was ranked on (:data:`FEATURE_NAMES`, values in
    [0, 1] or None when unknown). ``label`` is graded relevance (:func:`label_from_events`); a
    label above 0 counts as positive. ``at`` is when the list was produced. ``groups`` maps a
    protected attribute to the person's group, only for consenting people and only for the
    fairness evaluation: it never reaches :func:`feature_matrix` or a scorer.
    """

    list_id: str
    seeker_id: str
    posting_id: str
    features: Mapping[str, float | None]
    label: float
    at: datetime
    groups: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not math.isfinite(self.label) or self.label < 0:
            raise ValueError(f"label must be a finite number >= 0, got {self.label!r}")


class InsufficientData(ValueError):
    """Too few labelled examples to train and evaluate honestly.

    ``needed`` and ``have`` map the same keys (``train``, ``train_positives``,
    ``train_negatives``, ``holdout``, ``holdout_positives``) to counts.
    """

    def __init__(self, needed: Mapping[str, int], have: Mapping[str, int]) -> None:
        self.needed = dict(needed)
        self.have = dict(have)
        n, h = self.needed, self.have
        super().__init__(
            f"need at least {n.get('train', 0)} labelled examples with both positive and "
            f"negative labels (at least {n.get('train_positives', 0)} positive and "
            f"{n.get('train_negatives', 0)} negative) in the training period and "
            f"{n.get('holdout', 0)} (at least {n.get('holdout_positives', 0)} positive) in the "
            f"held-out period; have {h.get('train', 0)} ({h.get('train_positives', 0)} positive, "
            f"{h.get('train_negatives', 0)} negative) and {h.get('holdout', 0)} "
            f"({h.get('holdout_positives', 0)} positive)"
        )


def _value(features: Mapping[str, float | None], name: str) -> float:
    v = features.get(name)
    if v is None:
        return 0.0
    fv = float(v)
    if not math.isfinite(fv):
        raise ValueError(f"feature {name!r} is not finite: {v!r}")
    return fv


def feature_matrix(examples: Sequence[Example]) -> FloatArray:
    """The design matrix, shape ``(len(examples), len(FEATURE_NAMES))``, columns in
    :data:`FEATURE_NAMES` order.

    Built from the pair features only, so protected attributes (``Example.groups``) cannot enter a
    model. An unknown feature (None) is 0.0, as in the default scorer: missing data is never a
    match. No "is known" indicator is added on purpose: with one, a model could learn that an
    unknown salary beats a known one, and a contribution would no longer be "weight × value"
    that a caseworker can read like the default scorer's. Keys outside :data:`FEATURE_NAMES` are
    ignored; non-finite values raise ValueError.
    """
    x = np.zeros((len(examples), len(FEATURE_NAMES)), dtype=np.float64)
    for i, ex in enumerate(examples):
        for j, name in enumerate(FEATURE_NAMES):
            x[i, j] = _value(ex.features, name)
    return x


def time_split(
    examples: Sequence[Example], holdout_fraction: float = 0.25
) -> tuple[list[Example], list[Example]]:
    """(train, holdout): the held-out set is the latest period, about ``holdout_fraction`` of the
    examples.

    Whole lists stay on one side: a list's time is the earliest ``at`` of its examples. Lists
    are taken from the latest backwards until the held-out share is reached; lists produced at
    the same instant as the last one taken go with it, so every training list is strictly
    earlier than every held-out list. Input order is kept within each side.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must lie in (0, 1), got {holdout_fraction}")
    if not examples:
        return [], []
    list_time: dict[str, datetime] = {}
    list_size: Counter[str] = Counter()
    for ex in examples:
        t = list_time.get(ex.list_id)
        list_time[ex.list_id] = ex.at if t is None else min(t, ex.at)
        list_size[ex.list_id] += 1
    order = sorted(list_time, key=lambda lid: (list_time[lid], lid), reverse=True)
    want = holdout_fraction * len(examples)
    held: set[str] = set()
    count = 0
    cutoff: datetime | None = None
    for lid in order:
        if count >= want and cutoff is not None and list_time[lid] < cutoff:
            break
        held.add(lid)
        count += list_size[lid]
        cutoff = list_time[lid]
    train = [ex for ex in examples if ex.list_id not in held]
    holdout = [ex for ex in examples if ex.list_id in held]
    return train, holdout
