"""The fairness policy an admin sets."""

from __future__ import annotations

import itertools
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from service.kit.problems import FieldValueError
from service.kit.schemas import Strict
from service.records.schemas import AgeBand, Gender


class ProtectedAttribute(StrEnum):
    gender = "gender"
    age_band = "age_band"
    disability = "disability"
    migrant_background = "migrant_background"


def _values(attribute: ProtectedAttribute) -> list[str]:
    if attribute is ProtectedAttribute.gender:
        return [g.value for g in Gender]
    if attribute is ProtectedAttribute.age_band:
        return [a.value for a in AgeBand]
    return ["true", "false"]  # disability, migrant_background


def group_labels(attributes: list[ProtectedAttribute]) -> list[str]:
    """Every group a consenting seeker can be in under these attributes (`female|55-64`)."""
    return ["|".join(combo) for combo in itertools.product(*(_values(a) for a in attributes))]


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

    @field_validator("protected_groups", "targets")
    @classmethod
    def _groups_exist(cls, value: Any, info: ValidationInfo) -> Any:
        """A group is a value of each chosen attribute, joined with `|`: a label that no
        seeker can have (`femal`) would silently never match anyone."""
        attributes = info.data.get("attributes")
        if not attributes:
            return value  # attributes invalid: reported on their own
        valid = group_labels(attributes)
        wrong = [g for g in value if g not in valid]
        if wrong:
            shown = ", ".join(valid) if len(valid) <= 30 else ", ".join(valid[:30]) + ", …"
            raise ValueError(
                f"no such group {wrong[0]!r} for attributes {'|'.join(attributes)}; "
                f"the groups are: {shown}"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FairnessPolicyIn:
        if len(set(self.attributes)) != len(self.attributes):
            raise FieldValueError("attributes", "attributes must not repeat")
        if self.method == "fa_ir":
            if not self.protected_groups:
                raise FieldValueError("protected_groups", "fa_ir needs protected_groups")
            if self.target_source == "explicit" and self.p is None:
                raise FieldValueError("p", "fa_ir with explicit targets needs p")
        if self.method == "det_const_sort" and self.target_source == "explicit":
            if not self.targets:
                raise FieldValueError(
                    "targets", "det_const_sort with explicit targets needs targets"
                )
            if any(not 0 <= v <= 1 for v in self.targets.values()):
                raise FieldValueError("targets", "each target share must lie in [0, 1]")
            if sum(self.targets.values()) > 1 + 1e-9:
                raise FieldValueError("targets", "target shares must not sum to more than 1")
        return self


class FairnessPolicyOut(FairnessPolicyIn):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(description="0 = never set (no re-ranking)")
    created_at: datetime | None = None
    created_by: str | None = Field(default=None, description="id of the API key that set it")
    acted_by: str | None = Field(
        default=None, description="Staff id of the person who set it (Acting-Person header)"
    )


class FairnessPolicyHistory(BaseModel):
    items: list[FairnessPolicyOut]
