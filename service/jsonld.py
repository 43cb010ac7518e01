"""schema.org `JobPosting` JSON-LD → the API's posting fields."""

from __future__ import annotations

from typing import Any

from service.errors import FieldError, validation_problem

_PERIODS = {"HOUR", "DAY", "WEEK", "MONTH", "YEAR"}


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _text(value: Any) -> str | None:
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("name") or value.get("value")
    return str(value) if value not in (None, "") else None


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


def _location(value: Any) -> dict[str, Any] | None:
    place = _first(value)
    if not isinstance(place, dict):
        return None
    geo = place.get("geo") or {}
    address = place.get("address") or {}
    if not isinstance(geo, dict) or "latitude" not in geo or "longitude" not in geo:
        return None
    loc: dict[str, Any] = {"lat": geo["latitude"], "lon": geo["longitude"]}
    if isinstance(address, dict):
        if address.get("addressLocality"):
            loc["city"] = address["addressLocality"]
        if address.get("addressRegion"):
            loc["region"] = address["addressRegion"]
    return loc


def _salary(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    amount = value.get("value")
    currency = value.get("currency")
    out: dict[str, Any] = {"currency": currency}
    if isinstance(amount, dict):
        out["min"] = amount.get("minValue", amount.get("value"))
        out["max"] = amount.get("maxValue", amount.get("value"))
        unit = str(amount.get("unitText", "")).upper()
    else:
        out["min"] = out["max"] = amount
        unit = str(value.get("unitText", "")).upper()
    out["period"] = unit if unit in _PERIODS else unit or None
    return {k: v for k, v in out.items() if v is not None}


def from_jsonld(doc: Any) -> dict[str, Any]:
    """Map a JobPosting document to the fields of `PostingIn` (validated by the caller)."""
    if not isinstance(doc, dict):
        raise validation_problem([FieldError(field="body", message="expected a JSON object")])
    kind = doc.get("@type")
    if kind != "JobPosting" and not (isinstance(kind, list) and "JobPosting" in kind):
        raise validation_problem(
            [FieldError(field="body.@type", message="expected a schema.org JobPosting")]
        )
    identifier = _first(doc.get("identifier"))
    if isinstance(identifier, dict):  # a PropertyValue: its value is the id, its name the issuer
        identifier = identifier.get("value")
    external_id = str(identifier) if identifier not in (None, "") else None
    employment = doc.get("employmentType") or []
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
        "job_location": _location(doc.get("jobLocation")),
        "remote_allowed": doc.get("jobLocationType") == "TELECOMMUTE",
        "date_posted": doc.get("datePosted"),
        "valid_through": doc.get("validThrough"),
        "openings": doc.get("totalJobOpenings"),
    }
    if isinstance(occupation, dict):
        fields["occupation"] = {
            "title": occupation.get("name"),
            "isco08": occupation.get("codeValue"),
        }
    elif isinstance(occupation, str):
        fields["occupation"] = {"title": occupation}
    if isinstance(doc.get("experienceRequirements"), dict):
        months = doc["experienceRequirements"].get("monthsOfExperience")
        if isinstance(months, int | float):
            fields["experience_years_min"] = months / 12
    return {k: v for k, v in fields.items() if v is not None}
