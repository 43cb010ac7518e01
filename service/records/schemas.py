"""Seekers and postings as the API reads and writes them (names per API.md and schema.org)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from service.kit.problems import FieldValueError
from service.kit.schemas import (
    NOT_BLANK,
    Currency,
    ExternalId,
    LanguageCode,
    LongText,
    Strict,
    Text,
)


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


class Place(Strict):
    """Where a job or a seeker is: coordinates, or an address the service looks up (offline, in
    a gazetteer of cities); a place it cannot find is kept as sent, without coordinates, and the
    record is matched with its distance unknown."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {a: {"type": "number"}}, "required": [a]},
                    "then": {"properties": {b: {"type": "number"}}, "required": [b]},
                }
                for a, b in (("lat", "lon"), ("lon", "lat"))
            ],
            "anyOf": [
                {
                    "required": ["lat", "lon"],
                    "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                },
                {"required": ["city"], "properties": {"city": {"type": "string"}}},
            ],
        }
    )

    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    city: Annotated[str, Field(max_length=200, pattern=NOT_BLANK)] | None = None
    region: Annotated[str, Field(max_length=200)] | None = None
    country: Annotated[str, Field(max_length=100)] | None = Field(
        default=None, description="ISO 3166 code or English name (narrows the city look-up)"
    )

    @model_validator(mode="after")
    def _somewhere(self) -> Place:
        if (self.lat is None) != (self.lon is None):
            raise FieldValueError("lon" if self.lon is None else "lat", "lat and lon go together")
        if self.lat is None and not self.city:
            raise ValueError("give lat and lon, or at least a city")
        return self


class Salary(Strict):
    min: float | None = Field(default=None, ge=0, le=1e9)
    max: float | None = Field(default=None, ge=0, le=1e9)
    currency: Currency
    period: SalaryPeriod

    @model_validator(mode="after")
    def _range(self) -> Salary:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise FieldValueError("max", "min must not exceed max")
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


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
END_OF_DAY = time(23, 59, 59, tzinfo=UTC)

SkillList = Annotated[list[Skill], Field(max_length=200)]


class InferredOccupation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    esco_uri: str
    title: str
    isco08: str | None = None
    confidence: float = Field(ge=0, le=1, description="The normaliser's probability (0-1)")
    source: str = Field(description='The field it was read from: "title" or "text"')
    span: str = Field(description="The words it was read from")


class InferredSkill(BaseModel):
    model_config = ConfigDict(extra="forbid")

    esco_uri: str
    name: str
    confidence: float = Field(ge=0, le=1)
    source: str
    span: str | None = Field(default=None, description="The words it was read from")


class Inferred(BaseModel):
    """What the service read from the record's free text with the ESCO classification: never
    what the record states, which always wins. Read-only: replaced on every write."""

    model_config = ConfigDict(extra="forbid")

    occupations: list[InferredOccupation] = Field(default_factory=list)
    skills: list[InferredSkill] = Field(default_factory=list)
    taxonomy: str | None = Field(default=None, description="Version of the taxonomy used")


INFERRED_FIELD = Field(
    default=None,
    description="Read-only: ESCO occupations and skills inferred from the free text, with "
    "confidence and source words. Ignored on write (a GET body can be sent back as it is); a "
    "caseworker corrects it by stating the occupation or skill.",
)


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
    location: Place | None = Field(
        default=None,
        description="Where the seeker looks for work from: coordinates, or a city the service "
        "looks up (a city is enough, and discloses less than an address)",
    )
    max_distance_km: float | None = Field(default=None, gt=0, le=1000)
    desired_salary: Salary | None = None
    employment_types: Annotated[list[EmploymentType], Field(max_length=10)] = Field(
        default_factory=list
    )
    available_from: date | None = None
    personalised_ranking: bool = Field(
        default=True, description="false = the seeker opted out of profiling"
    )
    inferred: Inferred | None = INFERRED_FIELD


class SeekerIn(SeekerFields):
    external_id: ExternalId
    protected: Protected | None = None


class SeekerOut(SeekerFields):
    model_config = ConfigDict(extra="forbid")
    id: UUID
    external_id: str
    created_at: datetime
    updated_at: datetime
    protected: Protected | None = Field(
        default=None,
        description="Only in answers to caseworker and admin keys; null there means none is "
        "stored. See protected_shown.",
    )
    protected_shown: bool = Field(
        default=False,
        description="false: your role is never shown protected data, so a null `protected` "
        "says nothing about what is stored; a PUT or PATCH of yours that omits or nulls it "
        "keeps what is stored. true: `protected` is exactly what is stored.",
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
    job_location: Place | None = Field(
        default=None, description="Where the job is; distance is measured to this place"
    )
    other_locations: Annotated[list[Place], Field(max_length=50)] = Field(
        default_factory=list,
        description="Further places of the same job (a JSON-LD jobLocation list): kept and "
        "shown, not used for distance",
    )
    remote_allowed: bool = False
    date_posted: date | None = None
    valid_through: datetime | date | None = Field(
        default=None,
        description="A date-time, or a date: valid to the end of that day (23:59:59 UTC)",
    )
    openings: int = Field(
        default=1,
        ge=1,
        le=100_000,
        description="How many people are hired for this job (null or absent: 1). "
        "Capacity-aware matching counts applications and exposure per opening.",
    )
    inferred: Inferred | None = INFERRED_FIELD

    @field_validator("openings", mode="before")
    @classmethod
    def _one_opening_unless_said(cls, v: object) -> object:
        return 1 if v is None else v

    @field_validator("valid_through", mode="before")
    @classmethod
    def _end_of_day(cls, v: object) -> object:
        """A date means the whole of that day, not its first second."""
        if isinstance(v, str) and _ISO_DATE.match(v):
            v = date.fromisoformat(v)
        if isinstance(v, date) and not isinstance(v, datetime):
            return datetime.combine(v, END_OF_DAY)
        return v

    @field_validator("valid_through")
    @classmethod
    def _aware(cls, v: datetime | date | None) -> datetime | None:
        if isinstance(v, datetime) and v.tzinfo is None:
            return v.replace(tzinfo=UTC)
        assert v is None or isinstance(v, datetime)  # dates became date-times above
        return v


class PostingIn(PostingFields):
    external_id: ExternalId


class PostingOut(PostingFields):
    model_config = ConfigDict(extra="forbid")
    valid_through: datetime | None = None
    id: UUID
    external_id: str
    created_at: datetime
    updated_at: datetime


class WriteWarning(BaseModel):
    """Something the service stored as sent, but that you probably want to know."""

    field: str = Field(description="The field it concerns, e.g. body.valid_through")
    code: str = Field(description="Stable code, e.g. already_expired, place_not_found")
    message: str


class SeekerWritten(SeekerOut):
    warnings: list[WriteWarning] = Field(
        default_factory=list, description="Only in answers to writes; empty when all is well"
    )


class PostingWritten(PostingOut):
    warnings: list[WriteWarning] = Field(
        default_factory=list, description="Only in answers to writes; empty when all is well"
    )
