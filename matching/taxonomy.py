"""The ESCO taxonomy as plain frozen data: occupations, skills and the links between them.

Read from the compact artifact ``seed/build_esco_taxonomy.py`` writes (gzipped JSON).
This service uses the ESCO classification of the European Commission.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Where the artifact ships (package data of `seed`); found relative to this file, never by an
# absolute machine path.
DEFAULT_TAXONOMY_PATH = (
    Path(__file__).resolve().parent.parent / "seed" / "data" / ("esco_taxonomy.json.gz")
)


@dataclass(frozen=True, slots=True)
class EscoOccupation:
    uri: str
    label: str
    alt_labels: tuple[str, ...]
    isco08: str  # ISCO-08 unit group, 4 digits
    description: str
    essential: tuple[int, ...]  # indices into Taxonomy.skills
    optional: tuple[int, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label, *self.alt_labels)


@dataclass(frozen=True, slots=True)
class EscoSkill:
    uri: str
    label: str
    alt_labels: tuple[str, ...]
    kind: str  # "skill" or "knowledge"

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label, *self.alt_labels)


@dataclass(frozen=True, slots=True)
class Taxonomy:
    occupations: tuple[EscoOccupation, ...]
    skills: tuple[EscoSkill, ...]
    attribution: str
    version: str
    digest: str  # identifies the content: caches of derived data (label vectors) key on it
    _by_uri: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_uri.update({o.uri: i for i, o in enumerate(self.occupations)})

    @classmethod
    def load(cls, path: str | Path = DEFAULT_TAXONOMY_PATH) -> Taxonomy:
        raw = Path(path).read_bytes()
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        # Of the content, not the file: a recompressed artifact keeps its caches.
        return cls.from_dict(json.loads(text), digest=hashlib.sha256(text).hexdigest()[:16])

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, digest: str | None = None) -> Taxonomy:
        if digest is None:
            canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
            digest = hashlib.sha256(canonical).hexdigest()[:16]
        meta = data.get("_meta", {})
        return cls(
            occupations=tuple(
                EscoOccupation(
                    uri=o["uri"],
                    label=o["label"],
                    alt_labels=tuple(o.get("alt", ())),
                    isco08=o.get("isco", ""),
                    description=o.get("desc", ""),
                    essential=tuple(o.get("essential", ())),
                    optional=tuple(o.get("optional", ())),
                )
                for o in data["occupations"]
            ),
            skills=tuple(
                EscoSkill(
                    uri=s["uri"],
                    label=s["label"],
                    alt_labels=tuple(s.get("alt", ())),
                    kind=s.get("type", "skill"),
                )
                for s in data["skills"]
            ),
            attribution=meta.get("attribution", ""),
            version=meta.get("version", ""),
            digest=digest,
        )

    def occupation_index(self, uri: str) -> int | None:
        return self._by_uri.get(uri)

    def without_labels(self, held_out: Iterable[tuple[str, str]]) -> Taxonomy:
        """A copy without some alternative labels, given as (occupation uri, label): evaluation
        of inference on labels the normaliser has never seen."""
        drop: dict[str, set[str]] = {}
        for uri, label in held_out:
            drop.setdefault(uri, set()).add(label.lower())
        occupations = tuple(
            EscoOccupation(
                uri=o.uri,
                label=o.label,
                alt_labels=tuple(a for a in o.alt_labels if a.lower() not in drop.get(o.uri, ())),
                isco08=o.isco08,
                description=o.description,
                essential=o.essential,
                optional=o.optional,
            )
            for o in self.occupations
        )
        key = hashlib.sha256(
            (self.digest + repr(sorted((u, sorted(v)) for u, v in drop.items()))).encode()
        ).hexdigest()[:16]
        return Taxonomy(occupations, self.skills, self.attribution, self.version, key)

    def only(self, keep: Callable[[EscoOccupation], bool]) -> Taxonomy:
        """A copy with only the occupations `keep` accepts (all skills kept, so skill indices
        stay valid): a smaller normaliser for tests and experiments."""
        occupations = tuple(o for o in self.occupations if keep(o))
        key = hashlib.sha256(
            (self.digest + "|".join(o.uri for o in occupations)).encode()
        ).hexdigest()[:16]
        return Taxonomy(occupations, self.skills, self.attribution, self.version, key)
