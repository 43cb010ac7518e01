"""Request and response bodies of the v1 API (field names per API.md and schema.org JobPosting)."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import Enum, StrEnum
from types import UnionType
from typing import Annotated, Any, Generic, Literal, TypeVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Strings are stripped of surrounding whitespace (Unicode White_Space), so "must not be empty"
# means "must hold a character that is not whitespace", said by `pattern` for clients and
# fuzzers alike (spelt out: JSON Schema's \s and Unicode's White_Space differ).
WHITESPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{WHITESPACE}]"
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)]
LongText = Annotated[str, Field(max_length=20_000)]
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")]
ExternalId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=rf"^[^\x00-\x1f]*[^\x00-\x1f{WHITESPACE}][^\x00-\x1f]*$",
        description="Agency's id",
    ),
]


def storable(value: Any) -> bool:
    """False for text PostgreSQL cannot store: NUL characters, lone UTF-16 surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list | tuple):
        return all(storable(v) for v in value)
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    return True


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _NotJson:
    """Stands in for a value of the wrong JSON type, so Pydantic reports it where it was."""


_WRONG = _NotJson()


def _json_typed(value: Any, annotation: Any) -> Any:
    """`value` with each part whose JSON type the annotation does not allow replaced by _WRONG.

    Pydantic's lax mode would take "5" for a number, 0 for false, 0 for a date (Unix time) and
    "2000-01-01" for a date-time; the API's schema promises JSON types and RFC 3339 formats.
    """
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _json_typed(value, args[0])
    if origin in (Union, UnionType):
        if value is None and type(None) in args:
            return value
        options = [_json_typed(value, a) for a in args if a is not type(None)]
        return next((o for o in options if o is value), options[0] if options else value)
    if origin in (list, tuple, set, frozenset) and isinstance(value, list) and args:
        items = [_json_typed(v, args[0]) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        entries = {k: _json_typed(v, args[1]) for k, v in value.items()}
        return value if all(entries[k] is v for k, v in value.items()) else entries
    if not isinstance(annotation, type) or issubclass(annotation, BaseModel):
        return value
    if issubclass(annotation, bool):
        ok = isinstance(value, bool)
    elif issubclass(annotation, Enum):
        ok = isinstance(value, str)
    elif issubclass(annotation, datetime):
        ok = isinstance(value, datetime) or (isinstance(value, str) and bool(RFC3339.match(value)))
    elif issubclass(annotation, date):
        ok = isinstance(value, date) or (isinstance(value, str) and bool(_ISO_DATE.match(value)))
    elif issubclass(annotation, int):
        ok = not isinstance(value, bool) and (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        )
    elif issubclass(annotation, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif issubclass(annotation, str):
        ok = isinstance(value, str)
    else:
        ok = True
    return value if ok else _WRONG


STORED = {"stored": True}  # validation context: data read back from the database


def _stored(info: ValidationInfo) -> bool:
    """Data read back was checked on its way in: answering a read skips the input checks."""
    return bool(info.context and info.context.get("stored"))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _json_types(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or _stored(info):
            return data
        checked = dict(data)
        for name, field in cls.model_fields.items():
            key = field.alias or name
            if key in checked:
                checked[key] = _json_typed(checked[key], field.annotation)
        return checked

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        if not _stored(info) and not storable(value):
            raise ValueError("must not contain NUL characters or lone surrogates")
        return value


class EmploymentType(StrEnum):
    FULL_TIME = "FULL_TIME"
    PART_TIME = "PART_TIME"
    CONTRACTOR = "CONTRACTOR"
    TEMPORARY = "TEMPORARY"
    INTERN = "INTERN"
    VOLUNTEER = "VOLUNTEER"
    PER_DIEM = "PER_DIEM"
    OTHER = "OTHER"


class SalaryPeriod(StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    YEAR = "YEAR"


class Skill(Strict):
    name: Text
    esco_uri: Annotated[str, Field(max_length=300)] | None = None


class Occupation(Strict):
    title: Text
    isco08: Annotated[str, Field(pattern=r"^[0-9]{1,4}$")] | None = None
    esco_uri: Annotated[str, Field(max_length=300)] | None = None


class Location(Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    city: Annotated[str, Field(max_length=200)] | None = None
    region: Annotated[str, Field(max_length=200)] | None = None


class Salary(Strict):
    min: float | None = Field(default=None, ge=0, le=1e9)
    max: float | None = Field(default=None, ge=0, le=1e9)
    currency: Currency
    period: SalaryPeriod

    @model_validator(mode="after")
    def _range(self) -> Salary:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class Gender(StrEnum):
    female = "female"
    male = "male"
    non_binary = "non_binary"
    undisclosed = "undisclosed"


class AgeBand(StrEnum):
    a16_24 = "16-24"
    a25_34 = "25-34"
    a35_44 = "35-44"
    a45_54 = "45-54"
    a55_64 = "55-64"
    a65 = "65+"


class Protected(Strict):
    """Sensitive data, used only for fairness constraints and audits, never as a score input.

    Without `consent` the attributes are not stored: the seeker counts as "unknown".
    """

    consent: bool
    gender: Gender | None = None
    age_band: AgeBand | None = None
    disability: bool | None = None
    migrant_background: bool | None = None


SkillList = Annotated[list[Skill], Field(max_length=200)]


class SeekerFields(Strict):
    headline: Annotated[str, Field(max_length=300)] | None = None
    summary: LongText | None = None
    skills: SkillList = Field(default_factory=list)
    desired_occupations: Annotated[list[Occupation], Field(max_length=20)] = Field(
        default_factory=list
    )
    experience_years: float | None = Field(default=None, ge=0, le=80)
    education_level: int | None = Field(default=None, ge=0, le=8, description="ISCED 2011")
    languages: Annotated[list[LanguageCode], Field(max_length=30)] = Field(default_factory=list)
    location: Location | None = None
    max_distance_km: float | None = Field(default=None, gt=0, le=1000)
    desired_salary: Salary | None = None
    employment_types: Annotated[list[EmploymentType], Field(max_length=10)] = Field(
        default_factory=list
    )
    available_from: date | None = None
    personalised_ranking: bool = Field(
        default=True, description="false = the seeker opted out of profiling"
    )


class SeekerIn(SeekerFields):
    external_id: ExternalId
    protected: Protected | None = None


class SeekerOut(SeekerFields):
    model_config = ConfigDict(extra="forbid")
    id: str
    external_id: str
    created_at: datetime
    updated_at: datetime
    protected: Protected | None = Field(
        default=None, description="Only in answers to caseworker and admin keys."
    )


class HiringOrganization(Strict):
    name: Text


class PostingFields(Strict):
    title: Text
    description: LongText | None = None
    hiring_organization: HiringOrganization | None = None
    occupation: Occupation | None = None
    skills_required: SkillList = Field(default_factory=list)
    skills_preferred: SkillList = Field(default_factory=list)
    experience_years_min: float | None = Field(default=None, ge=0, le=80)
    education_level_min: int | None = Field(default=None, ge=0, le=8)
    languages_required: Annotated[list[LanguageCode], Field(max_length=30)] = Field(
        default_factory=list
    )
    employment_type: Annotated[list[EmploymentType], Field(max_length=10)] = Field(
        default_factory=list
    )
    base_salary: Salary | None = None
    job_location: Location | None = None
    remote_allowed: bool = False
    date_posted: date | None = None
    valid_through: datetime | None = None
    openings: int | None = Field(default=None, ge=1, le=100_000)

    @field_validator("valid_through")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        from datetime import UTC

        if v is not None and v.tzinfo is None:
            return v.replace(tzinfo=UTC)
        return v


class PostingIn(PostingFields):
    external_id: ExternalId


class PostingOut(PostingFields):
    model_config = ConfigDict(extra="forbid")
    id: str
    external_id: str
    created_at: datetime
    updated_at: datetime


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end.")


class RecordError(BaseModel):
    index: int = Field(description="0-based position of the record in the upload")
    external_id: str | None = None
    errors: list[dict[str, Any]]


class ImportJob(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    total: int
    done: int
    created: int
    failed: int
    errors: list[RecordError]
    created_at: datetime
    finished_at: datetime | None = None


class JobStatus(ImportJob):
    """Any background job: status, progress (done / total, phase) and its result."""

    phase: str | None = None
    error: str | None = Field(default=None, description="Why it failed, in plain words")
    cancel_requested: bool = False
    result: dict[str, Any] = Field(default_factory=dict)


class MatchExplanation(BaseModel):
    matched_skills: list[str]
    missing_skills: list[str]
    matched_required_skills: list[str]
    missing_required_skills: list[str]
    matched_preferred_skills: list[str]
    missing_preferred_skills: list[str]
    distance_km: float | None
    radius_km: float | None
    notes: list[str]
    note_codes: list[dict[str, Any]]


class RejectReason(StrEnum):
    """Documented reasons a caseworker rejects a match (free text goes in `note`)."""

    skills_gap = "skills_gap"
    experience_gap = "experience_gap"
    distance = "distance"
    availability = "availability"
    salary_expectation = "salary_expectation"
    contract_type = "contract_type"
    language = "language"
    seeker_declined = "seeker_declined"
    employer_requirements = "employer_requirements"
    position_filled = "position_filled"
    other = "other"


class DecisionIn(Strict):
    # The rules of _complete, in the schema too (clients and fuzzers can generate valid bodies).
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"action": {"const": "reject"}}, "required": ["action"]},
                    "then": {
                        "required": ["reason_code"],
                        "properties": {"reason_code": {"type": "string"}},
                    },
                },
                {
                    "if": {"properties": {"action": {"const": "override"}}, "required": ["action"]},
                    "then": {
                        "required": ["new_rank", "note"],
                        "properties": {
                            "new_rank": {"type": "integer"},
                            "note": {"type": "string", "pattern": NOT_BLANK},
                        },
                    },
                    "else": {"properties": {"new_rank": {"type": "null"}}},
                },
            ]
        }
    )

    rank: int = Field(ge=1, le=1000, description="The item's rank in the stored list")
    action: Literal["shortlist", "reject", "contact", "override"]
    reason_code: RejectReason | None = Field(default=None, description="Required for reject")
    note: Annotated[str, Field(max_length=2000)] | None = Field(
        default=None, description="Free text; required for override (why)"
    )
    new_rank: int | None = Field(default=None, ge=1, le=1000, description="override: move here")

    @model_validator(mode="after")
    def _complete(self) -> DecisionIn:
        if self.action == "reject" and self.reason_code is None:
            raise ValueError("reject needs a reason_code")
        if self.action == "override" and (self.new_rank is None or not self.note):
            raise ValueError("override needs new_rank and a note giving the reason")
        if self.action != "override" and self.new_rank is not None:
            raise ValueError("new_rank only goes with override")
        return self


class DecisionsIn(Strict):
    decisions: Annotated[list[DecisionIn], Field(min_length=1, max_length=100)]


class DecisionOut(BaseModel):
    id: str
    match_list_id: str
    rank: int
    seeker_id: str
    posting_id: str
    action: str
    reason_code: str | None
    note: str | None
    new_rank: int | None
    created_at: datetime
    created_by: str


class DecisionsOut(BaseModel):
    items: list[DecisionOut]


class OutcomeIn(Strict):
    seeker_id: Annotated[str, Field(max_length=64)]
    posting_id: Annotated[str, Field(max_length=64)]
    outcome: Literal["applied", "interviewed", "hired", "not_hired"]


class OutcomeOut(BaseModel):
    id: str
    seeker_id: str
    posting_id: str
    outcome: str
    created_at: datetime
    created_by: str


class MatchListSummary(BaseModel):
    id: str
    kind: str
    seeker_id: str | None
    posting_id: str | None
    created_at: datetime
    model_version: str
    items: int
    decisions: int


class MatchItem(BaseModel):
    rank: int
    seeker_id: str | None = None
    posting_id: str | None = None
    external_id: str
    title: str | None = Field(default=None, description="Posting title (jobs for a seeker)")
    score: float
    factors: dict[str, float] = Field(description="feature name → contribution; they sum to score")
    explanation: MatchExplanation
    decisions: list[DecisionOut] | None = Field(
        default=None, description="Review view only: this item's decisions, newest first"
    )
    final_rank: int | None = Field(
        default=None, description="Review view only: the rank after caseworker overrides"
    )


class MatchList(BaseModel):
    id: str
    kind: Literal["postings_for_seeker", "seekers_for_posting"]
    seeker_id: str | None
    posting_id: str | None
    created_at: datetime
    model_version: str
    embedding_model: str
    personalised: bool
    radius_km: float | None = Field(description="Radius used (seeker lists)")
    radius_widened_km: float = Field(description="How far the radius was widened; 0 if not")
    candidates_considered: int
    fairness_policy: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None
    items: list[MatchItem]


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


class ProtectedAttribute(StrEnum):
    gender = "gender"
    age_band = "age_band"
    disability = "disability"
    migrant_background = "migrant_background"


class FairnessPolicyIn(Strict):
    """The agency's fairness policy for candidate lists (`GET /v1/postings/{id}/matches`).

    Groups are the values of the chosen attribute(s), joined with `|` for two attributes
    (`female|55-64`); booleans read `true` / `false`. Seekers without consent are `unknown`.
    """

    # The rules of _consistent, in the schema too, but for "target shares sum to at most 1".
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"method": {"const": "fa_ir"}}, "required": ["method"]},
                    "then": {
                        "required": ["protected_groups"],
                        "properties": {"protected_groups": {"minItems": 1}},
                    },
                },
                {
                    "if": {
                        "properties": {
                            "method": {"const": "fa_ir"},
                            "target_source": {"const": "explicit"},
                        },
                        "required": ["method"],
                    },
                    "then": {"required": ["p"], "properties": {"p": {"type": "number"}}},
                },
                {
                    "if": {
                        "properties": {
                            "method": {"const": "det_const_sort"},
                            "target_source": {"const": "explicit"},
                        },
                        "required": ["method"],
                    },
                    "then": {
                        "required": ["targets"],
                        "properties": {"targets": {"minProperties": 1}},
                    },
                },
            ]
        }
    )

    method: Literal["none", "fa_ir", "det_const_sort"] = "none"
    attributes: Annotated[
        list[ProtectedAttribute],
        Field(min_length=1, max_length=2, json_schema_extra={"uniqueItems": True}),
    ] = Field(default_factory=lambda: [ProtectedAttribute.gender])
    protected_groups: Annotated[
        list[Annotated[str, Field(max_length=100)]], Field(max_length=20)
    ] = Field(default_factory=list, description="fa_ir: the group labels counted as protected")
    target_source: Literal["explicit", "pool"] = Field(
        default="explicit",
        description="explicit: use p / targets; pool: the shares in the qualified candidate pool",
    )
    p: float | None = Field(
        default=None, gt=0, lt=1, description="fa_ir: minimum share of protected candidates"
    )
    targets: Annotated[
        dict[Annotated[str, Field(max_length=100)], Annotated[float, Field(ge=0, le=1)]],
        Field(max_length=50),
    ] = Field(default_factory=dict, description="det_const_sort: target share per group")
    alpha: float = Field(default=0.1, gt=0, le=0.5, description="fa_ir: significance level")
    reason: Annotated[str, Field(max_length=2000)] | None = Field(
        default=None, description="Why the policy changes (kept in its history)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> FairnessPolicyIn:
        if len(set(self.attributes)) != len(self.attributes):
            raise ValueError("attributes must not repeat")
        if self.method == "fa_ir":
            if not self.protected_groups:
                raise ValueError("fa_ir needs protected_groups")
            if self.target_source == "explicit" and self.p is None:
                raise ValueError("fa_ir with explicit targets needs p")
        if self.method == "det_const_sort" and self.target_source == "explicit":
            if not self.targets:
                raise ValueError("det_const_sort with explicit targets needs targets")
            if any(not 0 <= v <= 1 for v in self.targets.values()):
                raise ValueError("each target share must lie in [0, 1]")
            if sum(self.targets.values()) > 1 + 1e-9:
                raise ValueError("target shares must not sum to more than 1")
        return self


class FairnessPolicyOut(FairnessPolicyIn):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(description="0 = never set (no re-ranking)")
    created_at: datetime | None = None
    created_by: str | None = Field(default=None, description="id of the API key that set it")


class FairnessPolicyHistory(BaseModel):
    items: list[FairnessPolicyOut]


class WhatIf(BaseModel):
    """Changes to a seeker's profile that would change the result, each re-scored."""

    target: str
    current: dict[str, Any]
    suggestions: list[dict[str, Any]] = Field(
        description="change (type, value) with the resulting score and rank, or the number of "
        "new postings in the top 20; cheapest changes first"
    )
    best: dict[str, Any] | None = Field(description="The first suggestion that reaches the target")
