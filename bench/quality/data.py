"""Benchmark tasks built from the ESCO CSV download: seekers and postings written the way people
write them, with graded relevance (same ESCO occupation 2, same ISCO-08 unit group 1).

Everything is derived by rule from a fixed seed, so a run is reproducible and nothing large is
committed. ISCO unit groups are split in two halves: the *tuning* split (weights and calibration
are fitted there) and the *report* split (the figures in bench/README.md). Two alternative labels
of every occupation are held out of the taxonomy the normaliser is built from; the paraphrased
slice titles records with them, so the normaliser has never seen those titles.
"""

from __future__ import annotations

import csv
import io
import random
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from matching.taxonomy import EscoOccupation, Taxonomy

CLASSIFICATION_ZIP = "esco_v1.1.1_classification_en_csv.zip"

# Everyday words people use instead of ESCO's (for the paraphrased slice).
SYNONYMS: dict[str, str] = {
    "manage": "run",
    "managing": "running",
    "ensure": "make sure of",
    "perform": "do",
    "performing": "doing",
    "maintain": "look after",
    "maintaining": "looking after",
    "operate": "work",
    "operating": "working",
    "use": "work with",
    "using": "working with",
    "prepare": "get ready",
    "preparing": "getting ready",
    "monitor": "keep an eye on",
    "monitoring": "keeping an eye on",
    "assist": "help",
    "assisting": "helping",
    "develop": "build up",
    "developing": "building up",
    "apply": "put to use",
    "handle": "deal with",
    "handling": "dealing with",
    "customer": "client",
    "customers": "clients",
    "equipment": "kit",
    "procedures": "routines",
    "procedure": "routine",
    "regulations": "rules",
    "regulation": "rule",
    "inspect": "check",
    "inspecting": "checking",
    "coordinate": "organise",
    "coordinating": "organising",
    "conduct": "carry out",
    "conducting": "carrying out",
    "supervise": "oversee",
    "supervising": "overseeing",
    "create": "make",
    "creating": "making",
    "analyse": "look into",
    "analysing": "looking into",
    "provide": "give",
    "providing": "giving",
    "products": "goods",
    "materials": "stuff",
    "techniques": "methods",
    "activities": "tasks",
    "operations": "work",
    "staff": "team",
    "employees": "colleagues",
    "patients": "people in care",
    "vehicles": "cars and vans",
    "machinery": "machines",
    "documents": "paperwork",
    "records": "files",
    "standards": "norms",
    "quality": "standard",
    "safety": "security",
    "information": "info",
    "clients": "customers",
    "various": "different",
    "responsible": "in charge",
}


@dataclass(frozen=True, slots=True)
class Seeker:
    occupation: str  # ESCO URI, the truth
    isco08: str
    headline: str | None
    summary: str


@dataclass(frozen=True, slots=True)
class Posting:
    occupation: str
    isco08: str
    title: str
    description: str


@dataclass(frozen=True, slots=True)
class Split:
    name: str
    seekers: list[Seeker]
    postings: list[Posting]
    paraphrased_seekers: list[Seeker]
    paraphrased_postings: list[Posting]
    held_out_titles: list[tuple[str, str]]  # (occupation URI, held-out label): inference task


@dataclass
class Benchmark:
    taxonomy: Taxonomy  # with the held-out labels removed: what the normaliser is built from
    tune: Split
    report: Split
    held_out: list[tuple[str, str]] = field(default_factory=list)


def _full_descriptions(esco_dir: Path) -> dict[str, str]:
    with zipfile.ZipFile(esco_dir / CLASSIFICATION_ZIP) as archive:
        name = next(n for n in archive.namelist() if n.endswith("occupations_en.csv"))
        with archive.open(name) as raw:
            rows = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
            return {r["conceptUri"]: " ".join(r["description"].split()) for r in rows}


_SENT = re.compile(r"(?<=[.!?])\s+")
_LEAD = re.compile(r"^.*?\b(are|is)\b\s*", re.IGNORECASE)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(text) if len(s.strip()) > 20]


def _second_person(sentence: str) -> str:
    """ESCO's "Cooks are ... who prepare" / "They prepare" → an employer's "You will ..."."""
    if sentence.startswith("They "):
        return "You will " + sentence[5:]
    return _LEAD.sub("In this role you are ", sentence, count=1)


def _first_person(sentence: str) -> str:
    if sentence.startswith("They "):
        return "I " + sentence[5:]
    return "My job: " + _LEAD.sub("", sentence, count=1)


def _gerund(label: str) -> str:
    """ "operate forklift" → "operating forklift": how people list what they can do."""
    first, _, rest = label.partition(" ")
    if not rest or len(first) < 3 or first.endswith("ing"):
        return label
    if first.endswith("e") and not first.endswith("ee"):
        first = first[:-1]
    return f"{first}ing {rest}"


def _paraphrase(text: str, rng: random.Random, drop: float = 0.15) -> str:
    """Replace ESCO wording by everyday words and drop a few content words."""
    out: list[str] = []
    for word in text.split():
        bare = word.strip(".,;:").lower()
        if bare in SYNONYMS:
            out.append(SYNONYMS[bare] + word[len(word.rstrip(".,;:")) :])
        elif len(bare) > 3 and rng.random() < drop:
            continue
        else:
            out.append(word)
    return " ".join(out)


def _typo(text: str, rng: random.Random) -> str:
    """Swap two neighbouring letters of one longer word, as hurried typing does."""
    words = text.split()
    long = [i for i, w in enumerate(words) if len(w) > 5]
    if not long:
        return text
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


class _Writer:
    def __init__(self, taxonomy: Taxonomy, descriptions: dict[str, str], rng: random.Random):
        self.tax = taxonomy
        self.desc = descriptions
        self.rng = rng

    def _skill_words(self, index: int, own_words: bool, paraphrase: bool) -> str:
        skill = self.tax.skills[index]
        label = (
            self.rng.choice(skill.alt_labels)
            if (paraphrase and skill.alt_labels)
            else (self.rng.choice(skill.labels))
        )
        if own_words and skill.kind == "skill":
            label = _gerund(label)
        return _paraphrase(label, self.rng, drop=0.0) if paraphrase else label

    def posting(self, occ: EscoOccupation, title: str, *, paraphrase: bool) -> Posting:
        rng = self.rng
        sentences = _sentences(self.desc.get(occ.uri, occ.description))
        essential = rng.sample(occ.essential, min(len(occ.essential), rng.randint(3, 5)))
        optional = rng.sample(occ.optional, min(len(occ.optional), rng.randint(0, 2)))
        if paraphrase:
            title = _typo(title, rng) if rng.random() < 0.3 else title
            tasks = [_paraphrase(_second_person(s), rng) for s in sentences[1:2]]
        else:
            title = rng.choice(("", "", "Senior ", "Junior ", "Experienced ")) + title
            title += rng.choice(("", "", " (m/f/d)", " - full time", " wanted"))
            tasks = [_second_person(s) for s in sentences[:2]]
        parts = [rng.choice(("We are looking for a motivated colleague.", "Join our team!", ""))]
        parts += tasks
        parts.append(
            "What you bring: "
            + ", ".join(self._skill_words(s, False, paraphrase) for s in essential)
            + "."
        )
        if optional:
            parts.append(
                "Nice to have: "
                + ", ".join(self._skill_words(s, False, paraphrase) for s in optional)
                + "."
            )
        parts.append(rng.choice(("We offer a permanent contract.", "Good pay and training.", "")))
        return Posting(occ.uri, occ.isco08, title, " ".join(p for p in parts if p))

    def seeker(
        self, occ: EscoOccupation, headline: str | None, *, paraphrase: bool, use_task: int
    ) -> Seeker:
        rng = self.rng
        sentences = _sentences(self.desc.get(occ.uri, occ.description))
        skills = rng.sample(occ.essential, min(len(occ.essential), rng.randint(2, 4)))
        own = [self._skill_words(s, True, paraphrase) for s in skills]
        summary = "I am good at " + ", ".join(own) + "."
        # A task sentence the postings of the same occupation do not use, where there is one.
        if sentences:
            task = sentences[min(use_task, len(sentences) - 1)]
            task = _first_person(task)
            summary += " " + (_paraphrase(task, rng) if paraphrase else task)
        if paraphrase and headline:
            headline = _typo(headline, rng) if rng.random() < 0.3 else headline
        return Seeker(occ.uri, occ.isco08, headline, summary)


def build(
    esco_dir: Path,
    full: Taxonomy,
    *,
    seed: int = 17,
    groups_per_split: int | None = None,
    per_group: int = 5,
    postings_per_occupation: int = 2,
) -> Benchmark:
    rng = random.Random(seed)
    descriptions = _full_descriptions(esco_dir)
    # Two alternative labels held out of every occupation that has at least three.
    held: dict[str, tuple[str, str]] = {}
    for occ in full.occupations:
        alts = [a for a in occ.alt_labels if a.lower() != occ.label.lower()]
        if len(alts) >= 3:
            a, b = rng.sample(alts, 2)
            held[occ.uri] = (a, b)
    held_out = [(uri, label) for uri, pair in held.items() for label in pair]
    taxonomy = full.without_labels(held_out)
    by_group: dict[str, list[EscoOccupation]] = defaultdict(list)
    for occ in taxonomy.occupations:
        if occ.uri in held and len(occ.essential) >= 5:
            by_group[occ.isco08].append(occ)
    groups = sorted(g for g, occs in by_group.items() if len(occs) >= 2)
    rng.shuffle(groups)
    halves = {"tune": groups[0::2], "report": groups[1::2]}
    all_groups = sorted(by_group)
    rng.shuffle(all_groups)
    writer = _Writer(taxonomy, descriptions, rng)
    splits: dict[str, Split] = {}
    for name, names in halves.items():
        seekers, postings, p_seekers, p_postings = [], [], [], []
        for group in names[:groups_per_split]:
            occs = sorted(by_group[group], key=lambda o: o.uri)
            for occ in rng.sample(occs, min(per_group, len(occs))):
                known = list(occ.labels)
                for _ in range(postings_per_occupation):
                    postings.append(writer.posting(occ, rng.choice(known), paraphrase=False))
                seekers.append(writer.seeker(occ, rng.choice(known), paraphrase=False, use_task=2))
                h_seeker, h_posting = held[occ.uri]
                for _ in range(postings_per_occupation):
                    p_postings.append(writer.posting(occ, h_posting, paraphrase=True))
                p_seekers.append(writer.seeker(occ, h_seeker, paraphrase=True, use_task=2))
        # Inference on held-out labels: every occupation of this half's ISCO groups.
        mine = set(names)
        titles = [(uri, pair[0]) for uri, pair in held.items() if _group(full, uri) in mine]
        splits[name] = Split(name, seekers, postings, p_seekers, p_postings, titles)
    return Benchmark(taxonomy, splits["tune"], splits["report"], held_out)


def _group(taxonomy: Taxonomy, uri: str) -> str:
    index = taxonomy.occupation_index(uri)
    return "" if index is None else taxonomy.occupations[index].isco08


# -- a French slice: the same occupations, written in French (ESCO's French labels and
# descriptions), for French seekers against English postings and against French ones ----------

FRENCH_OCCUPATIONS = Path("fr") / "occupations_fr.csv.gz"


@dataclass(frozen=True, slots=True)
class FrenchOccupation:
    labels: list[str]  # preferred first, then alternative; "masculin/féminin" split in two
    description: str


def french_occupations(esco_dir: Path) -> dict[str, FrenchOccupation]:
    """ESCO v1.1.1's French labels and descriptions by occupation URI."""
    import gzip

    out: dict[str, FrenchOccupation] = {}
    with gzip.open(esco_dir / FRENCH_OCCUPATIONS, "rt", encoding="utf-8", newline="") as raw:
        for row in csv.DictReader(raw):
            labels: list[str] = []
            for label in [row["preferredLabel"], *row["altLabels"].splitlines()]:
                for form in label.split("/"):
                    form = " ".join(form.split())
                    if form and form not in labels:
                        labels.append(form)
            if labels:
                out[row["conceptUri"]] = FrenchOccupation(
                    labels, " ".join(row["description"].split())
                )
    return out


@dataclass(frozen=True, slots=True)
class FrenchSlice:
    seekers: list[Seeker]  # one per seeker of the English split, same occupation
    postings: list[Posting]  # one per posting of the English split, same occupation
    titles: list[tuple[str, str]]  # (occupation URI, a French label): inference task


def french_slice(esco_dir: Path, split: Split, *, seed: int = 17) -> FrenchSlice:
    """The split's seekers and postings written in French the way the English ones are: a
    posting is a French label as title and its first description sentences addressed to the
    reader; a seeker is another French label as headline and a later description sentence.
    Occupations without a French text keep no French record (and are graded as absent)."""
    rng = random.Random(seed)
    french = french_occupations(esco_dir)
    postings: list[Posting] = []
    for p in split.postings:
        occ = french.get(p.occupation)
        if occ is None:
            continue
        sentences = _sentences(occ.description)
        title = rng.choice(occ.labels) + rng.choice(("", "", " (H/F)", " - temps plein", " CDI"))
        parts = [rng.choice(("Nous recrutons !", "Rejoignez notre équipe.", ""))]
        parts.append("Vos missions : " + " ".join(sentences[:2]) if sentences else "")
        parts.append(rng.choice(("Contrat à durée indéterminée.", "Formation assurée.", "")))
        postings.append(Posting(p.occupation, p.isco08, title, " ".join(x for x in parts if x)))
    seekers: list[Seeker] = []
    titles: list[tuple[str, str]] = []
    for s in split.seekers:
        occ = french.get(s.occupation)
        if occ is None:
            continue
        sentences = _sentences(occ.description)
        task = sentences[min(2, len(sentences) - 1)] if sentences else occ.description
        headline = rng.choice(occ.labels)
        seekers.append(Seeker(s.occupation, s.isco08, headline, "Mon expérience : " + task))
        titles.append((s.occupation, rng.choice(occ.labels)))
    return FrenchSlice(seekers, postings, titles)


# What real ads wrap around the job itself: who the employer is, what it offers, how to apply.
# None of it says what the work is, so it dilutes the text a model embeds (and a model that
# reads only the first 256 word pieces may never reach the tasks).
_EMPLOYER_INTROS = (
    "{name} is a family-run business founded in {year} with {size} employees in {city}.",
    "For more than {age} years {name} has served customers across the region.",
    "At {name} we believe that people make the difference, and we invest in every colleague.",
    "{name} is growing fast: last year we opened two new sites and welcomed {size} new people.",
    "We are an equal-opportunity employer with a friendly, informal culture and short lines.",
    "Our mission is to deliver quality and reliability, every day, for every client we serve.",
    "Sustainability matters to us: we cut our energy use by a third over the last five years.",
)
_OFFERS = (
    "a competitive salary in line with the collective agreement",
    "30 days of paid holiday",
    "a pension scheme with employer contributions",
    "a travel allowance or a company bicycle",
    "flexible working hours where the work allows",
    "training and room to grow within the company",
    "a permanent contract after a successful trial period",
    "an end-of-year bonus",
    "a pleasant team and a good atmosphere",
    "free parking and a staff canteen",
)
_APPLY = (
    "Interested? Send your CV and a short motivation letter before the end of the month.",
    "Apply online through our careers page; we reply to every application within two weeks.",
    "Questions about this vacancy? Call our recruitment team on weekdays between 9 and 5.",
    "A certificate of good conduct is part of the procedure. Acquisition is not appreciated.",
    "We welcome applications from everyone, whatever their age, origin, gender or disability.",
)
_NAMES = ("Van Dijk & Zonen", "Northgate Group", "Alder Services", "Brightwell BV", "Meridian")
_CITIES = ("Utrecht", "Leeds", "Lyon", "Gdansk", "Porto", "Graz")


def long_ad(posting: Posting, rng: random.Random) -> Posting:
    """The same job as a real ad is written: one to three paragraphs about the employer before
    the job, a list of what is offered and how to apply after it (about 150-300 words in all).
    The title stays; the relevance grade does not change."""
    fill = {
        "name": rng.choice(_NAMES),
        "year": rng.randint(1950, 2015),
        "size": rng.choice((12, 40, 85, 250, 1200)),
        "city": rng.choice(_CITIES),
        "age": rng.choice((10, 25, 40, 60)),
    }
    intro = " ".join(s.format(**fill) for s in rng.sample(_EMPLOYER_INTROS, rng.randint(3, 5)))
    offers = "What we offer: " + "; ".join(rng.sample(_OFFERS, rng.randint(4, 7))) + "."
    apply = " ".join(rng.sample(_APPLY, rng.randint(2, 4)))
    body = f"{intro}\n\nThe job\n{posting.description}\n\n{offers}\n\n{apply}"
    return Posting(posting.occupation, posting.isco08, posting.title, body)
