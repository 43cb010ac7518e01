"""schema.org `JobPosting` JSON-LD → the API's posting fields."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from service.kit.problems import FieldError, validation_problem

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PERIODS = {"HOUR", "DAY", "WEEK", "MONTH", "YEAR"}

# The JobPosting properties read, with the JSON types accepted for each (others are ignored).
_READ: dict[str, tuple[str, ...]] = {
    "identifier": ("string", "object", "array"),
    "title": ("string",),
    "description": ("string",),
    "datePosted": ("string",),
    "validThrough": ("string",),
    "employmentType": ("string", "array"),
    "hiringOrganization": ("string", "object"),
    "jobLocation": ("object", "array"),
    "jobLocationType": ("string",),
    "baseSalary": ("object",),
    "skills": ("string", "array"),
    "occupationalCategory": ("string", "object"),
    "experienceRequirements": ("string", "object"),
    "totalJobOpenings": ("integer",),
}
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "object": (dict,),
    "array": (list,),
    "integer": (int,),
}


def _schema_of(types: tuple[str, ...]) -> dict[str, Any]:
    """The JSON Schema of a value of one of `types`; written as `anyOf` of single types (an
    array with its `items`), which client generators can make a union of."""
    options = [{"type": t, **({"items": {}} if t == "array" else {})} for t in types]
    return options[0] if len(options) == 1 else {"anyOf": options}


JOB_POSTING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A schema.org JobPosting (JSON-LD). Read: "
    + ", ".join(_READ)
    + " (identifier is the external_id: a string, or a PropertyValue whose value is one); "
    "other properties are ignored. The mapped fields are validated like a JSON posting.",
    "required": ["@type", "identifier", "title"],
    "properties": {
        "@type": {
            "anyOf": [
                {"const": "JobPosting"},
                {"type": "array", "items": {"type": "string"}, "contains": {"const": "JobPosting"}},
            ]
        },
        **{name: _schema_of(types) for name, types in _READ.items()},
    },
}


def _wrong_types(doc: dict[str, Any]) -> list[FieldError]:
    errors = []
    for name, types in _READ.items():
        value = doc.get(name)
        allowed = tuple(t for k in types for t in _PY_TYPES[k])
        if value is not None and (not isinstance(value, allowed) or isinstance(value, bool)):
            errors.append(
                FieldError(field=f"body.{name}", message=f"expected {' or '.join(types)}")
            )
    return errors


def _timestamp(value: Any) -> Any:
    """schema.org dates may omit the offset or the seconds: make them RFC 3339 (UTC if none)."""
    if not isinstance(value, str) or _DATE_ONLY.match(value):
        return value  # a date: the posting's schema reads it as the end of that day
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value  # refused by the posting's validation
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


def _day(value: Any) -> Any:
    """datePosted may be a DateTime: keep its date."""
    if isinstance(value, str) and len(value) > 10 and value[10] in "Tt ":
        return value[:10]
    return value


def _number(value: Any) -> Any:
    """schema.org numbers are often written as text ("52.09"): read those as numbers."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value  # refused by the posting's validation
    return value


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _text(value: Any) -> str | None:
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("name") or value.get("value")
    return value if isinstance(value, str) and value else None


def _skills(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, str):
            out.extend({"name": s.strip()} for s in item.split(",") if s.strip())
        elif isinstance(item, dict) and item.get("name"):
            skill: dict[str, Any] = {"name": str(item["name"])}
            uri = item.get("url") or item.get("@id")
            if isinstance(uri, str):
                skill["esco_uri"] = uri
            out.append(skill)
    return out


def _place(place: Any) -> dict[str, Any] | None:
    """A schema.org Place: its geo coordinates and its PostalAddress (city, region, country),
    each kept when given; a place with an address but no geo is looked up by the service."""
    if not isinstance(place, dict):
        return None
    geo = place.get("geo")
    address = place.get("address")
    loc: dict[str, Any] = {}
    if isinstance(geo, dict) and "latitude" in geo and "longitude" in geo:
        loc = {"lat": _number(geo["latitude"]), "lon": _number(geo["longitude"])}
    if isinstance(address, str) and address.strip():
        loc.setdefault("city", address.strip())  # an address as plain text: try it as a city
    elif isinstance(address, dict):
        for source, target in (
            ("addressLocality", "city"),
            ("addressRegion", "region"),
            ("addressCountry", "country"),
        ):
            value = _text(address.get(source))
            if value:
                loc[target] = value
    return loc or None


def _locations(value: Any) -> list[dict[str, Any]]:
    """Every place of a jobLocation (a Place or a list of them), in the given order."""
    items = value if isinstance(value, list) else [value]
    return [p for p in (_place(item) for item in items) if p]


_CODED = re.compile(r"^\s*([0-9]{1,4})(?:\s*[-–:]\s*|\s+)(\S.*?)\s*$")


def _occupation_text(text: str) -> dict[str, Any]:
    """`"2221 Nursing professionals"` (an ISCO-08 code, then its title) → code and title; any
    other text is a title."""
    coded = _CODED.match(text)
    if coded:
        return {"title": coded.group(2), "isco08": coded.group(1)}
    return {"title": text}


def _salary(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    amount = value.get("value")
    currency = value.get("currency")
    out: dict[str, Any] = {"currency": currency}
    if isinstance(amount, dict):
        out["min"] = _number(amount.get("minValue", amount.get("value")))
        out["max"] = _number(amount.get("maxValue", amount.get("value")))
        unit = str(amount.get("unitText", "")).upper()
    else:
        out["min"] = out["max"] = _number(amount)
        unit = str(value.get("unitText", "")).upper()
    out["period"] = unit if unit in _PERIODS else unit or None
    return {k: v for k, v in out.items() if v is not None}


def looks_like_jsonld(doc: dict[str, Any]) -> bool:
    """A JSON-LD document (it names its @context or @type), whatever its Content-Type said."""
    return "@context" in doc or "@type" in doc


def from_jsonld(doc: Any) -> dict[str, Any]:
    """Map a JobPosting document to the fields of `PostingIn` (validated by the caller)."""
    if not isinstance(doc, dict):
        raise validation_problem([FieldError(field="body", message="expected a JSON object")])
    kind = doc.get("@type")
    if kind != "JobPosting" and not (isinstance(kind, list) and "JobPosting" in kind):
        raise validation_problem(
            [FieldError(field="body.@type", message="expected a schema.org JobPosting")]
        )
    wrong = _wrong_types(doc)
    if wrong:
        raise validation_problem(wrong)
    identifier = _first(doc.get("identifier"))
    if isinstance(identifier, dict):  # a PropertyValue: its value is the id, its name the issuer
        identifier = identifier.get("value")
    external_id = identifier if isinstance(identifier, str) and identifier else None
    employment = doc.get("employmentType") or []
    places = _locations(doc.get("jobLocation"))
    occupation = doc.get("occupationalCategory")
    fields: dict[str, Any] = {
        "external_id": external_id,
        "title": doc.get("title"),
        "description": doc.get("description"),
        "hiring_organization": (
            {"name": _text(doc["hiringOrganization"])} if doc.get("hiringOrganization") else None
        ),
        "skills_required": _skills(doc.get("skills")),
        "skills_preferred": [],
        "employment_type": [employment] if isinstance(employment, str) else employment,
        "base_salary": _salary(doc.get("baseSalary")),
        "job_location": places[0] if places else None,
        "other_locations": places[1:] or None,
        "remote_allowed": doc.get("jobLocationType") == "TELECOMMUTE",
        "date_posted": _day(doc.get("datePosted")),
        "valid_through": _timestamp(doc.get("validThrough")),
        "openings": doc.get("totalJobOpenings"),
    }
    if isinstance(occupation, dict):
        fields["occupation"] = {
            "title": occupation.get("name"),
            "isco08": occupation.get("codeValue"),
        }
    elif isinstance(occupation, str):
        fields["occupation"] = _occupation_text(occupation)
    if isinstance(doc.get("experienceRequirements"), dict):
        months = doc["experienceRequirements"].get("monthsOfExperience")
        if isinstance(months, int | float):
            fields["experience_years_min"] = months / 12
    return {k: v for k, v in fields.items() if v is not None}
