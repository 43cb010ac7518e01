"""Schema pieces every capability uses: the strict base model, text constraints, pages."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import date, datetime
from enum import Enum
from types import UnionType
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

# Strings are stripped of surrounding whitespace (Unicode White_Space), so "must not be empty"
# means "must hold a character that is not whitespace", said by `pattern` for clients and
# fuzzers alike (spelt out: JSON Schema's \s and Unicode's White_Space differ).
WHITESPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{WHITESPACE}]"
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)]
LongText = Annotated[str, Field(max_length=20_000)]
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")]


def _invisible_class() -> str:
    """A regex character class body of what an identifier must not hold: control characters
    (C0, DEL, C1 such as U+0085), format characters (zero-width spaces and joiners, bidi
    overrides such as U+202E, soft hyphen, BOM, tag characters), line and paragraph separators,
    and every space but U+0020 (no-break, ideographic...). From this Python's Unicode tables."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x110000):
        cat = unicodedata.category(chr(cp))
        if cat in ("Cc", "Cf", "Zl", "Zp") or (cat == "Zs" and cp != 0x20):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))

    def char(cp: int) -> str:  # BMP escaped; astral ones literal (JSON keeps them as pairs)
        return f"\\u{cp:04x}" if cp <= 0xFFFF else chr(cp)

    return "".join(char(a) if a == b else f"{char(a)}-{char(b)}" for a, b in ranges)


INVISIBLE = _invisible_class()
_INVISIBLE_RE = re.compile(f"[{INVISIBLE}]")


def _identifier(value: str) -> str:
    """Identifiers compare as text, not as code points: NFC, and nothing invisible in them."""
    value = unicodedata.normalize("NFC", value)
    if _INVISIBLE_RE.search(value):
        raise ValueError(
            "must not contain control, format (zero-width, bidi) or non-space blank characters"
        )
    return value


ExternalId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        # Said to clients (and fuzzers) as a pattern; checked by `_identifier`, whose message
        # names what is wrong instead of repeating a pattern of 200 characters.
        json_schema_extra={
            "pattern": rf"^[^{INVISIBLE}]*[^{WHITESPACE}{INVISIBLE}][^{INVISIBLE}]*$"
        },
        description="Agency's id, stored in Unicode NFC (a composed and a decomposed `café` are "
        "one id); control, format (zero-width, bidi override) and blank characters other than "
        "the space are refused",
    ),
    AfterValidator(_identifier),
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


Check = Callable[[Any], Any]


def _json_check(annotation: Any) -> Check | None:
    """A function giving a value with each part whose JSON type the annotation does not allow
    replaced by _WRONG (None: every value passes). Built once per field, as walking the
    annotation for every value cost more than the rest of a record's validation.

    Pydantic's lax mode would take "5" for a number, 0 for false, 0 for a date (Unix time) and
    "2000-01-01" for a date-time; the API's schema promises JSON types and RFC 3339 formats.
    """
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _json_check(args[0])
    if origin in (Union, UnionType):
        options = [_json_check(a) for a in args if a is not type(None)]
        checks = [o for o in options if o is not None]
        if not options or len(checks) < len(options):
            return None  # some option takes any value
        if len(checks) == 1 and type(None) in args:  # `X | None`, most optional fields
            return functools.partial(_check_optional, checks[0])
        return functools.partial(_check_union, type(None) in args, checks)
    if origin in (list, tuple, set, frozenset) and args:
        item = _json_check(args[0])
        return None if item is None else functools.partial(_check_list, item)
    if origin is dict and len(args) == 2:
        entry = _json_check(args[1])
        return None if entry is None else functools.partial(_check_dict, entry)
    if not isinstance(annotation, type) or issubclass(annotation, BaseModel):
        return None
    for kind, accepts in _SCALARS:
        if issubclass(annotation, kind):
            return functools.partial(_check_scalar, accepts)
    return None


def _check_union(allows_none: bool, options: list[Check], value: Any) -> Any:
    if value is None and allows_none:
        return value
    first = _WRONG
    for n, option in enumerate(options):
        checked = option(value)
        if checked is value:
            return value
        if n == 0:
            first = checked
    return first


def _check_optional(check: Check, value: Any) -> Any:
    return value if value is None else check(value)


def _check_list(item: Check, value: Any) -> Any:
    if not isinstance(value, list):
        return value  # not a list at all: Pydantic says so
    items = [item(v) for v in value]
    return value if all(a is b for a, b in zip(items, value, strict=True)) else items


def _check_dict(entry: Check, value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    entries = {k: entry(v) for k, v in value.items()}
    return value if all(entries[k] is v for k, v in value.items()) else entries


def _check_scalar(accepts: Callable[[Any], bool], value: Any) -> Any:
    return value if accepts(value) else _WRONG


def _whole(value: Any) -> bool:
    return not isinstance(value, bool) and (
        isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    )


# The first of these kinds a scalar annotation is a subclass of says which values it takes
# (bool before int, datetime before date: each is a subclass of the next).
_SCALARS: tuple[tuple[type, Callable[[Any], bool]], ...] = (
    (bool, lambda v: isinstance(v, bool)),
    (Enum, lambda v: isinstance(v, str)),
    (
        datetime,
        lambda v: isinstance(v, datetime) or (isinstance(v, str) and bool(RFC3339.match(v))),
    ),
    (date, lambda v: isinstance(v, date) or (isinstance(v, str) and bool(_ISO_DATE.match(v)))),
    (int, _whole),
    (float, lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    (str, lambda v: isinstance(v, str)),
)


@functools.cache
def _field_checks(model: type[BaseModel]) -> tuple[tuple[str, Check], ...]:
    """(key in the input, check) for each field of `model` whose values are checked."""
    checks = (
        (field.alias or name, _json_check(field.annotation))
        for name, field in model.model_fields.items()
    )
    return tuple((key, check) for key, check in checks if check is not None)


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
        checked = data
        for key, check in _field_checks(cls):
            if key in data:
                value = data[key]
                found = check(value)
                if found is not value:
                    if checked is data:
                        checked = dict(data)
                    checked[key] = found
        return checked

    @model_validator(mode="wrap")
    @classmethod
    def _storable(
        cls, data: Any, handler: ModelWrapValidatorHandler[Any], info: ValidationInfo
    ) -> Any:
        if isinstance(data, dict) and not _stored(info):
            _refuse_unstorable(cls.__name__, data)
        return handler(data)


_UNSTORABLE = "Value error, must not contain NUL characters or lone surrogates"


def _refuse_unstorable(title: str, data: dict[str, Any]) -> None:
    """Refuse input holding text PostgreSQL cannot store, naming each place that holds it.

    One check of the whole input (orjson refuses lone surrogates and writes NUL as an escape)
    instead of a validator call for every field of every record, which weighed on a bulk
    upload's validation. Only input that fails it is walked.
    """
    try:
        if b"\\u0000" not in orjson.dumps(data):
            return
    except TypeError:  # a lone surrogate, or a value orjson does not write: walk it
        pass
    places = list(_unstorable_places(data, ()))
    if places:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(
                    type=PydanticCustomError("value_error", _UNSTORABLE), loc=loc, input=value
                )
                for loc, value in places
            ],
        )


_Loc = tuple[str | int, ...]


def _unstorable_places(value: Any, loc: _Loc) -> Iterator[tuple[_Loc, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if not storable(key):
                yield (*loc, key), key
            else:
                yield from _unstorable_places(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _unstorable_places(item, (*loc, i))
    elif not storable(value):
        yield loc, value


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end.")
