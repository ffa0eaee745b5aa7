"""What every page of the HTML report is made of: the fleet computed once from the JSON report
(which images hold each package, the bytes reports recorded, the size series), and the cells
and links the pages share. Pure; every string that reaches HTML goes through ``escape``."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import attrs

from buildahpy.build.sizes import human_size
from buildahpy.fleet import history
from buildahpy.fleet.history import Earlier, Point


@attrs.frozen
class Fleet:
    """The report's images and what is computed across them, once for every page."""

    images: tuple[Mapping[str, Any], ...]
    holders: Mapping[str, tuple[str, ...]]  # nevra -> recipes of the run's images that have it
    sizes: Mapping[str, int]  # nevra -> bytes, where a report recorded them
    series: Mapping[str, Sequence[Point]]  # recipe -> sizes over the runs (with this one)
    created: str
    has_history: bool

    def by_recipe(self) -> dict[str, Mapping[str, Any]]:
        return {str(i.get("recipe")): i for i in self.images}


def page_name(recipe: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_]+", recipe):
        return f"image-{recipe}.html"
    return f"image-{hashlib.sha256(recipe.encode()).hexdigest()[:16]}.html"


def link(recipe: str) -> str:
    return f'<a href="{escape(page_name(recipe))}">{escape(recipe)}</a>'


def num(value: object, text: str | None = None) -> str:
    """A numeric cell: the shown text, and the exact number for whoever reads the page."""
    if not isinstance(value, int):
        return '<td class="num muted">-</td>'
    shown = str(value) if text is None else text
    return f'<td class="num" data-value="{value}">{escape(shown)}</td>'


def size_cell(value: object) -> str:
    return num(value, human_size(value) if isinstance(value, int) else None)


def fleet_of(data: Mapping[str, Any], earlier: Sequence[Earlier]) -> Fleet:
    images = tuple(history.images_of(data))
    holders: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}
    for image in images:
        if image.get("size") is None:
            continue
        for nevra in image.get("packages") or []:
            holders.setdefault(str(nevra), []).append(str(image.get("recipe")))
        for item in history.valid_contents(image.get("contents")) or []:
            # one build of a package, but docs=True installs more of its files: the most
            sizes[item["nevra"]] = max(item["size"], sizes.get(item["nevra"], 0))
    created = str(data.get("created", ""))
    runs = [*((e.created, e.data) for e in earlier), (created, data)]
    return Fleet(
        images=images,
        holders={nevra: tuple(names) for nevra, names in holders.items()},
        sizes=sizes,
        series=history.series(runs),
        created=created,
        has_history=bool(earlier),
    )
