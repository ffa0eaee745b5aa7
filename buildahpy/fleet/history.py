"""Earlier runs, from their JSON reports (``--report`` output): what an image that was not
rebuilt contains, and each image's size over time.

An up-to-date image is the very image an earlier run built (same id), so its packages, their
bytes and chains are taken from the newest earlier report that lists that id with them
(``--history DIR``, and the ``--report`` file this run is about to replace). Without one, the
package names come from the image's ``io.buildahpy.packages`` label (the table already has
them) and the report says that sizes and chains were not recorded. Pure but for reading the
report files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from buildahpy.log import get_logger

FROM_BUILD, FROM_LABELS = "build", "labels"


@attrs.frozen
class Earlier:
    name: str  # the report's file name
    created: str  # when its run ended (UTC, ISO 8601), or the file's mtime for older reports
    data: Mapping[str, Any]


@attrs.frozen
class Point:
    created: str
    size: int
    status: str
    image_id: str


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def stamp(data: MutableMapping[str, Any], now: float | None = None) -> None:
    """When this run ended, to the microsecond: orders the reports in a history, and tells two
    runs apart that end within one second (a rerun that finds everything up to date)."""
    seconds = time.time() if now is None else now
    data["created"] = iso(seconds).replace("Z", f".{round(seconds % 1 * 1e6) % 1000000:06d}Z")


def load(directory: Path | None, previous: Path | None = None) -> list[Earlier]:
    """The reports in ``directory`` (``*.json``) and ``previous``, oldest first. A file that is
    not a report is left out with a warning: a history directory may hold other things."""
    paths = sorted(directory.glob("*.json")) if directory is not None else []
    if previous is not None and previous.is_file():
        paths.append(previous)
    found: dict[Path, Earlier] = {}
    for path in paths:
        if path.resolve() in found:
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            get_logger().warning(
                "not a report, left out of the history", path=str(path), cause=str(exc)
            )
            continue
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            get_logger().warning("not a report, left out of the history", path=str(path))
            continue
        created = data.get("created")
        if not isinstance(created, str):
            created = iso(path.stat().st_mtime)
        found[path.resolve()] = Earlier(path.name, created, data)
    return sorted(found.values(), key=lambda earlier: earlier.created)


def images_of(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    images = data.get("images")
    return [i for i in images if isinstance(i, dict)] if isinstance(images, list) else []


def valid_contents(value: object) -> list[dict[str, Any]] | None:
    """The ``contents`` of a report's image when they have the shape this version writes."""
    if not isinstance(value, list) or not value:
        return None
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("nevra"), str):
            return None
        if not isinstance(item.get("size"), int) or not isinstance(item.get("why"), list):
            return None
        steps = item["why"]
        if not all(isinstance(s, list) and [type(x) for x in s] == [str, str] for s in steps):
            return None
    return value


def carry_contents(data: Mapping[str, Any], earlier: Sequence[Earlier]) -> None:
    """Fill the contents of each image this run did not build from the newest earlier report
    that has the same image id with contents; else mark them as known from the labels."""
    known: dict[str, tuple[list[dict[str, Any]], str]] = {}
    for report in earlier:  # oldest first: a newer report wins
        for image in images_of(report.data):
            found = valid_contents(image.get("contents"))
            if found is not None and isinstance(image.get("image_id"), str):
                known[image["image_id"]] = (found, f"report {report.name}")
    for image in images_of(data):
        if image.get("contents") or image.get("size") is None:
            continue
        carried = known.get(image.get("image_id") or "")
        if carried is None:
            image["contents_from"] = FROM_LABELS
        else:
            image["contents"], image["contents_from"] = carried


def series(reports: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, list[Point]]:
    """recipe -> its sizes, one point per (time, report) that has the image with a size, in
    time order; a report given twice (the same run) counts once."""
    found: dict[str, dict[str, Point]] = {}
    for created, data in reports:
        for image in images_of(data):
            recipe, size = image.get("recipe"), image.get("size")
            if not isinstance(recipe, str) or not isinstance(size, int):
                continue
            status, image_id = image.get("status"), image.get("image_id")
            point = Point(created, size, str(status or ""), str(image_id or ""))
            found.setdefault(recipe, {})[created] = point
    return {recipe: [points[k] for k in sorted(points)] for recipe, points in found.items()}
