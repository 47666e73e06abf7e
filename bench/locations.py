"""How well a shared location becomes a place: known points, the kabupaten/kota each lies in.

    python bench/locations.py

The sample is the centre of 48 kabupaten seats and cities across every large island, each with the
kabupaten/kota it lies in. It prints, per point, what `handlers.locations.place_at` answered, and the
share answered with the right kabupaten/kota and the share answered finer (a kecamatan or desa).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from handlers.locations import place_at

# (latitude, longitude, the kabupaten/kota it is in)
SAMPLE = [
    (-8.1721, 113.6995, "Kabupaten Jember"),
    (-8.2192, 114.3691, "Kabupaten Banyuwangi"),
    (-8.1335, 113.2248, "Kabupaten Lumajang"),
    (-7.9135, 113.8214, "Kabupaten Bondowoso"),
    (-7.7064, 114.0091, "Kabupaten Situbondo"),
    (-7.9797, 112.6304, "Kota Malang"),
    (-7.2575, 112.7521, "Kota Surabaya"),
    (-7.8166, 112.0114, "Kota Kediri"),
    (-7.7543, 113.2159, "Kota Probolinggo"),
    (-7.7956, 110.3695, "Kota Yogyakarta"),
    (-6.9667, 110.4167, "Kota Semarang"),
    (-7.5666, 110.8166, "Kota Surakarta"),
    (-6.8694, 109.1402, "Kota Tegal"),
    (-6.7063, 108.5570, "Kota Cirebon"),
    (-6.9175, 107.6191, "Kota Bandung"),
    (-6.5971, 106.8060, "Kota Bogor"),
    (-6.1200, 106.1503, "Kota Serang"),
    (-5.3971, 105.2668, "Kota Bandar Lampung"),
    (-2.9761, 104.7754, "Kota Palembang"),
    (-3.8004, 102.2655, "Kota Bengkulu"),
    (-1.6101, 103.6131, "Kota Jambi"),
    (0.5071, 101.4478, "Kota Pekanbaru"),
    (-0.9471, 100.4172, "Kota Padang"),
    (3.5952, 98.6722, "Kota Medan"),
    (5.5483, 95.3238, "Kota Banda Aceh"),
    (0.9186, 104.4555, "Kota Tanjung Pinang"),
    (-2.1291, 106.1138, "Kota Pangkal Pinang"),
    (-0.0263, 109.3425, "Kota Pontianak"),
    (-2.2136, 113.9108, "Kota Palangkaraya"),
    (-3.3186, 114.5944, "Kota Banjarmasin"),
    (-0.5022, 117.1536, "Kota Samarinda"),
    (-1.2654, 116.8312, "Kota Balikpapan"),
    (3.3000, 117.6333, "Kota Tarakan"),
    (-5.1477, 119.4327, "Kota Makassar"),
    (-0.8917, 119.8707, "Kota Palu"),
    (-3.9985, 122.5129, "Kota Kendari"),
    (1.4748, 124.8421, "Kota Manado"),
    (0.5435, 123.0568, "Kota Gorontalo"),
    (-2.6748, 118.8885, "Kabupaten Mamuju"),
    (-3.6954, 128.1814, "Kota Ambon"),
    (0.7893, 127.3842, "Kota Ternate"),
    (-8.6500, 115.2167, "Kota Denpasar"),
    (-8.5833, 116.1167, "Kota Mataram"),
    (-10.1772, 123.6070, "Kota Kupang"),
    (-0.8762, 131.2558, "Kota Sorong"),
    (-0.8615, 134.0620, "Kabupaten Manokwari"),
    (-2.5337, 140.7181, "Kota Jayapura"),
    (-8.4991, 140.4050, "Kabupaten Merauke"),
]


def main() -> None:
    started = time.perf_counter()
    place_at(-8.17, 113.70)  # loads the gazetteer once
    loaded = time.perf_counter() - started
    right = finer = 0
    timings = []
    for latitude, longitude, expected in SAMPLE:
        began = time.perf_counter()
        found = place_at(latitude, longitude)
        timings.append(time.perf_counter() - began)
        path = found.path if found else "-"
        ok = expected in path
        right += ok
        finer += ok and found is not None and found.code.count(".") >= 2
        print(f"{'ok ' if ok else 'NO '} {latitude:9.4f} {longitude:9.4f}  {expected:28} {path}")
    timings.sort()
    print(
        f"\n{right} of {len(SAMPLE)} in the right kabupaten/kota ({right / len(SAMPLE):.0%}); "
        f"{finer} of them to a kecamatan or desa. First call {loaded:.2f} s (loading GeoNames), "
        f"then median {timings[len(timings) // 2] * 1000:.2f} ms a point."
    )


if __name__ == "__main__":
    main()
