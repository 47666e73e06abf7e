"""/grafik's chart, drawn in a process of its own: `python -I chart.py < chart.json > chart.png`.

matplotlib, once imported into a long-running `serve`, kept 30 to 60 MB resident for good after the first
chart (its modules, fonts and caches; bench/memory.py), in every web process. A child that draws one PNG
and exits gives all of it back, for about half a second more per chart. It imports nothing of the bot:
the chart comes as JSON, every word already in the coordinator's language.
"""

from __future__ import annotations

import json
import sys
from typing import Any, BinaryIO

SIZE = (1080, 1350)  # pixels, portrait, for a phone screen
DPI = 150
COLOURS = {"normal": "#9e9e9e", "waspada": "#f2c94c", "siaga": "#f2994a", "awas": "#eb5757"}
KIND_COLOUR = "#2d9cdb"


def draw(chart: dict[str, Any], file: BinaryIO) -> None:
    """Two panels on a phone-shaped PNG: reports per day stacked by level, and reports by kind.

    `chart` holds `days` (the x labels), `levels` ([level, label, counts per day] from the lowest up),
    `kinds` ([label, count], the most first) and the two titles, `per_day` and `per_kind`.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import MaxNLocator

    width, height = SIZE
    figure, (top, bottom) = pyplot.subplots(
        2, 1, figsize=(width / DPI, height / DPI), dpi=DPI, height_ratios=(3, 2)
    )
    base = [0] * len(chart["days"])
    for level, label, counts in chart["levels"]:
        top.bar(chart["days"], counts, bottom=base, color=COLOURS[level], label=label)
        base = [b + n for b, n in zip(base, counts, strict=True)]
    top.set_title(chart["per_day"], fontsize=11)
    top.legend(fontsize=8)
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    top.tick_params(axis="x", labelrotation=90, labelsize=7)
    bottom.barh([label for label, _ in chart["kinds"]], [n for _, n in chart["kinds"]], color=KIND_COLOUR)
    bottom.invert_yaxis()
    bottom.set_title(chart["per_kind"], fontsize=11)
    figure.tight_layout()
    figure.savefig(file, format="png", dpi=DPI)
    pyplot.close(figure)


if __name__ == "__main__":
    draw(json.load(sys.stdin), sys.stdout.buffer)
