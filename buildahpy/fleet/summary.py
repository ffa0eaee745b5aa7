"""The end of a fleet run: the per-image table with totals, the fleet summary, the JSON report.

The fleet summary is the attack surface the talk is about: for each image the packages it adds
over its base and the bytes of its own layers, what it shares through its base, the packages no
other image has, and the fleet's total of distinct packages. Pure: works on the scheduler's
entries and the local image index; starts no process.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from buildahpy.build.sizes import human_size
from buildahpy.fleet.fleet import BUILT, FAILED, SKIPPED, UP_TO_DATE, Entry
from buildahpy.fleet.jobs import LocalImage
from buildahpy.host import atomic
from buildahpy.log import plural


@attrs.frozen
class Row:
    entry: Entry
    image: LocalImage | None  # the image now under the tag (built or up to date)
    packages: tuple[str, ...]
    size: int

    @property
    def ok(self) -> bool:
        return self.entry.status in (BUILT, UP_TO_DATE)


def rows(entries: Sequence[Entry], images: Mapping[str, LocalImage]) -> list[Row]:
    found = []
    for entry in entries:
        image = images.get(entry.node.recipe.tag)
        if image is not None and (image.id != entry.image_id or not entry.image_id):
            image = None  # what was under the tag before this run, or a failed build's tag
        packages: tuple[str, ...] = ()
        size = 0
        if entry.result is not None:
            packages, size = entry.result.packages, entry.result.size
        elif image is not None:
            packages, size = image.packages, image.size
        found.append(Row(entry, image, tuple(sorted(packages)), size))
    return found


def _table(lines: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    for row in lines:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        out.write("  ".join(cells).rstrip() + "\n")


def print_table(table: Sequence[Row], wall_seconds: float, out: TextIO) -> None:
    lines = [("RECIPE", "TAG", "STATUS", "ROLE", "IMAGE ID", "SIZE", "PACKAGES", "SECONDS")]
    for row in table:
        entry = row.entry
        lines.append(
            (
                entry.name,
                entry.node.recipe.tag,
                f"{entry.status} ({entry.source})" if entry.source else entry.status,
                entry.node.role,
                entry.image_id[:12] if row.ok else "-",
                human_size(row.size) if row.ok and (row.size or not entry.source) else "-",
                str(len(row.packages)) if row.ok else "-",
                f"{entry.seconds:.1f}",
            )
        )
    _table(lines, out)
    out.write(totals_line(table, wall_seconds) + "\n")


def counts(table: Sequence[Row]) -> dict[str, int]:
    return {
        status: sum(1 for row in table if row.entry.status == status)
        for status in (BUILT, UP_TO_DATE, FAILED, SKIPPED)
    }


def totals_line(table: Sequence[Row], wall_seconds: float) -> str:
    ok = [row for row in table if row.ok]
    distinct = len({nevra for row in ok for nevra in row.packages})
    summary = ", ".join(f"{n} {status}" for status, n in counts(table).items() if n)
    return (
        f"total: {plural(len(table), 'image')} ({summary or 'none'}), "
        f"{human_size(sum(row.size for row in ok))}, {plural(distinct, 'distinct package')}, "
        f"{wall_seconds:.1f} s"
    )


@attrs.frozen
class Share:
    tag: str
    own: tuple[str, ...]  # packages added over the base
    unique: tuple[str, ...]  # packages no other image of the fleet has
    shared: int  # packages that come from the base
    own_bytes: int  # the image's size minus its base's: its own layers
    base: str | None


def fleet_shares(table: Sequence[Row], images: Mapping[str, LocalImage]) -> list[Share]:
    ok = [row for row in table if row.ok]
    by_tag = {row.entry.node.recipe.tag: row for row in ok}
    seen: dict[str, int] = {}
    for row in ok:
        for nevra in row.packages:
            seen[nevra] = seen.get(nevra, 0) + 1
    shares = []
    for row in ok:
        base_tag = row.entry.node.recipe.base
        base_row = by_tag.get(base_tag or "")
        base_image = images.get(base_tag or "")
        base_packages = set(
            base_row.packages if base_row else base_image.packages if base_image else ()
        )
        base_size = base_row.size if base_row else base_image.size if base_image else 0
        own = tuple(p for p in row.packages if p not in base_packages)
        shares.append(
            Share(
                tag=row.entry.node.recipe.tag,
                own=own,
                unique=tuple(p for p in row.packages if seen[p] == 1),
                shared=len(row.packages) - len(own),
                own_bytes=max(0, row.size - base_size) if base_tag else row.size,
                base=base_tag,
            )
        )
    return shares


def print_fleet(shares: Sequence[Share], table: Sequence[Row], out: TextIO) -> None:
    lines = [("IMAGE", "OWN PACKAGES", "UNIQUE", "FROM BASE", "OWN BYTES", "BASE")]
    for share in shares:
        lines.append(
            (
                share.tag,
                str(len(share.own)),
                str(len(share.unique)),
                str(share.shared),
                human_size(share.own_bytes),
                share.base or "-",
            )
        )
    out.write("\nfleet summary\n")
    _table(lines, out)
    distinct = len({p for row in table if row.ok for p in row.packages})
    stored = sum(share.own_bytes for share in shares)
    separate = sum(row.size for row in table if row.ok)
    out.write(
        f"fleet: {plural(len(shares), 'image')}, {plural(distinct, 'distinct package')}; "
        f"{human_size(stored)} in own layers ({human_size(separate)} if nothing were shared)\n"
    )


def report(table: Sequence[Row], shares: Sequence[Share], wall_seconds: float) -> dict[str, Any]:
    by_tag = {share.tag: share for share in shares}
    images = []
    for row in table:
        entry, share = row.entry, by_tag.get(row.entry.node.recipe.tag)
        images.append(
            {
                "recipe": entry.name,
                "tag": entry.node.recipe.tag,
                "role": entry.node.role,
                "status": entry.status,
                "image_id": entry.image_id or None,
                "digest": row.image.digest if row.image else None,
                "size": row.size if row.ok else None,
                "packages": list(row.packages),
                "seconds": entry.seconds,
                "error": entry.error or None,
                "base": entry.node.recipe.base,
                "inputs": entry.inputs,
                "own_packages": list(share.own) if share else [],
                "unique_packages": list(share.unique) if share else [],
                "own_bytes": share.own_bytes if share else None,
                # up-to-date images: filled from earlier reports (history.carry_contents)
                "contents": [c.as_json() for c in entry.result.contents] if entry.result else [],
                "contents_from": "build" if entry.result else None,
            }
        )
    ok = [row for row in table if row.ok]
    return {
        "images": images,
        "totals": {
            **counts(table),
            "images": len(table),
            "size": sum(row.size for row in ok),
            "distinct_packages": len({p for row in ok for p in row.packages}),
            "own_bytes": sum(share.own_bytes for share in shares),
            "seconds": round(wall_seconds, 1),
        },
    }


_BRIEF = ("recipe", "tag", "role", "status", "image_id", "size", "seconds", "error")


def brief(data: Mapping[str, Any]) -> dict[str, Any]:
    """The report without its package lists: the last line of a JSON log."""
    images = [
        {**{key: image[key] for key in _BRIEF}, "packages": len(image["packages"])}
        for image in data["images"]
    ]
    return {"images": images, "totals": data["totals"]}


def write_report(path: Path, data: Mapping[str, Any]) -> None:
    atomic.write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
