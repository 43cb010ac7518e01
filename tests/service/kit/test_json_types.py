"""Request bodies take JSON's types and RFC 3339 formats only (`service.kit.schemas.Strict`):
values Pydantic's lax mode would convert are refused, naming the field; what was stored is read
back without the checks."""

from __future__ import annotations

from typing import Any

import pytest

from service.kit.problems import ProblemError
from service.kit.schemas import STORED
from service.records import preparation
from service.records.schemas import PostingIn
from tests.factories import posting_body


def _refused_fields(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ProblemError) as refused:
        preparation.parse_body("posting", body)
    assert refused.value.status == 422
    return [e.field for e in refused.value.errors or []]


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("experience_years_min", "5", "body.experience_years_min"),  # a string for a number
        ("experience_years_min", True, "body.experience_years_min"),  # a boolean for a number
        ("openings", 2.5, "body.openings"),  # a fraction for a whole number
        ("remote_allowed", 0, "body.remote_allowed"),  # a number for a boolean
        ("date_posted", 0, "body.date_posted"),  # Unix time for a date
        ("date_posted", "2026-01-02T00:00:00Z", "body.date_posted"),  # a date-time for a date
        ("valid_through", "2026-01-02 12:00", "body.valid_through.datetime"),  # no offset
        ("languages_required", ["nl", 7], "body.languages_required.1"),  # in a list
        ("employment_type", [1], "body.employment_type.0"),  # a number for an enumeration
        ("title", 12, "body.title"),
    ],
)
def test_a_value_of_another_json_type_is_refused_naming_its_field(
    field: str, value: Any, named: str
) -> None:
    assert named in _refused_fields(posting_body(**{field: value}))


def test_nested_objects_are_checked_too() -> None:
    body = posting_body(
        base_salary={"min": "2500", "max": 2900, "currency": "EUR", "period": "MONTH"}
    )
    assert "body.base_salary.min" in _refused_fields(body)
    body = posting_body(skills_required=[{"name": "operate forklift"}, {"name": 3}])
    assert "body.skills_required.1.name" in _refused_fields(body)


def test_values_of_the_right_types_pass_unchanged() -> None:
    body = posting_body(
        experience_years_min=2,  # a whole number is a number
        openings=3.0,  # and a whole fraction a whole number
        remote_allowed=False,
        date_posted="2026-01-02",
        valid_through="2099-01-01T12:00:00+02:00",
        languages_required=["nl", "en"],
        description=None,  # null where the field may be null
    )
    parsed = preparation.parse_body("posting", body)
    assert parsed.experience_years_min == 2
    assert parsed.openings == 3
    assert parsed.languages_required == ["nl", "en"]
    assert parsed.valid_through is not None and parsed.valid_through.utcoffset() is not None


def test_what_was_stored_is_read_back_without_the_input_checks() -> None:
    stored = preparation.parse_body("posting", posting_body()).model_dump()  # Python values
    again = PostingIn.model_validate(stored, context=STORED)
    assert again == preparation.parse_body("posting", posting_body())


def test_a_check_across_fields_names_the_field_to_mend() -> None:
    salary = {"min": 3000, "max": 2000, "currency": "EUR", "period": "MONTH"}
    assert _refused_fields(posting_body(base_salary=salary)) == ["body.base_salary.max"]
    place = {"lat": 52.1, "city": "Utrecht"}
    assert _refused_fields(posting_body(job_location=place)) == ["body.job_location.lon"]


def test_text_postgresql_cannot_store_is_refused_at_every_place_that_holds_it() -> None:
    body = posting_body(
        title="Forklift \x00driver",  # NUL
        skills_required=[{"name": "operate forklift"}, {"name": "stack \ud800pallets"}],
        languages_required=["nl", "e\x00n"],
    )
    assert sorted(_refused_fields(body)) == [
        "body.languages_required.1",
        "body.skills_required.1.name",
        "body.title",
    ]
    with pytest.raises(ProblemError) as refused:
        preparation.parse_body("posting", posting_body(description="a \x00 b"))
    assert [e.message for e in refused.value.errors or []] == [
        "Value error, must not contain NUL characters or lone surrogates"
    ]
    # the text "\u0000" written out (a backslash and five characters) is storable
    parsed = preparation.parse_body("posting", posting_body(description="type \\u0000 here"))
    assert parsed.description == "type \\u0000 here"
