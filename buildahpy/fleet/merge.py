"""``buildahpy report merge``: the JSON reports of a fleet's shards (--report) as one.

Each recipe appears once, as the shard that did the most for it saw it (built, else failed, else
skipped, else up to date), with every shard's view under ``shards``; the totals count each
recipe once and add up the work of all shards (builds, pulls, pushes), and the fleet's seconds
are the longest shard's, since shards run side by side. Pure but for reading and writing the
files; starts no process.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from buildahpy.build.sizes import human_size
from buildahpy.errors import UsageError

_RANK = ("built", "failed", "skipped", "up-to-date")  # the view that stands for the fleet's


def load(paths: Sequence[Path]) -> list[dict[str, Any]]:
    reports = []
    for path in paths:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"report {path}: cannot read it as JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise UsageError(f"report {path}: not a buildahpy --report (no images)")
        reports.append(data)
    return reports


def _rank(image: dict[str, Any]) -> int:
    status = image.get("status")
    return _RANK.index(status) if status in _RANK else len(_RANK)


def merge(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    views: dict[str, list[dict[str, Any]]] = {}
    for number, data in enumerate(reports):
        for image in data["images"]:
            shard = data.get("shard") or str(number)
            views.setdefault(image["recipe"], []).append({**image, "shard": shard})
    images = []
    for seen in views.values():
        chosen = min(seen, key=_rank)
        role = "target" if any(v.get("role") == "target" for v in seen) else "base"
        images.append({**chosen, "role": role, "shards": seen})
    ok = [image for image in images if image["status"] in ("built", "up-to-date")]
    totals: dict[str, float] = {
        status: sum(1 for i in images if i["status"] == status) for status in _RANK
    }

    def added(key: str) -> int:
        return sum(int(data.get("totals", {}).get(key) or 0) for data in reports)

    totals.update(
        images=len(images),
        size=sum(image.get("size") or 0 for image in ok),
        distinct_packages=len({p for image in ok for p in image.get("packages") or []}),
        builds=sum(1 for seen in views.values() for v in seen if v["status"] == "built"),
        pulls=added("pulls"),
        pushes=added("pushes"),
        seconds=max((float(d.get("totals", {}).get("seconds") or 0) for d in reports), default=0),
        shard_seconds=round(
            sum(float(d.get("totals", {}).get("seconds") or 0) for d in reports), 1
        ),
        shards=len(reports),
    )
    return {"images": images, "totals": totals}


def _status(image: dict[str, Any]) -> str:
    source = image.get("source")
    return f"{image['status']} (registry)" if source == "registry" else str(image["status"])


def print_merged(data: dict[str, Any], out: TextIO) -> None:
    lines = [
        ("RECIPE", "TAG", "STATUS", "ROLE", "SHARD", "IMAGE ID", "SIZE", "PACKAGES", "SECONDS")
    ]
    for image in data["images"]:
        ok = image["status"] in ("built", "up-to-date")
        lines.append(
            (
                image["recipe"],
                image["tag"],
                _status(image),
                image["role"],
                str(image["shard"]),
                (image.get("image_id") or "-")[:12] if ok else "-",
                human_size(image["size"]) if ok and image.get("size") is not None else "-",
                str(len(image.get("packages") or [])) if ok else "-",
                f"{float(image.get('seconds') or 0):.1f}",
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    for row in lines:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    t = data["totals"]
    summary = ", ".join(f"{t[status]} {status}" for status in _RANK if t[status])
    out.write(
        f"total: {t['images']} images ({summary or 'none'}), {human_size(t['size'])}, "
        f"{t['distinct_packages']} distinct packages; {t['shards']} shards: {t['builds']} builds, "
        f"{t['pulls']} pulls, {t['pushes']} pushes, {t['seconds']:.1f} s "
        f"({t['shard_seconds']:.1f} s of all shards)\n"
    )
