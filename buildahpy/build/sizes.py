"""The size report printed after each build: what is in the image and what minimising saved.

Everything is measured: the image's size as ``podman images`` shows it (the one size of an
image everywhere: here, in the table, the report), per-package and skipped-file bytes from
the rpm headers in the image's rpmdb, pruned
bytes from the headers of the packages removed, and (with --explain) the weak-dependency and
alternatives savings from real dnf resolutions of the same request into a scratch rpmdb.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from buildahpy.log import human_size, plural
from buildahpy.plan.packages import Package, doc_or_lang_bytes

__all__ = ["SizeReport", "human_size", "installed_bytes", "make_report"]


def installed_bytes(package: Package) -> int:
    return sum(f[1] for f in package.files if f[3] == "normal" and f[5] >= 0)


@attrs.frozen
class SizeReport:
    tag: str
    package_count: int
    largest: tuple[tuple[str, int], ...]
    docs_saved: int
    langs_saved: int
    pruned: tuple[tuple[str, int], ...]
    alternatives: tuple[str, ...]
    weak_saved: int | None = None
    alternatives_saved: int | None = None
    why: tuple[tuple[str, str], ...] = ()
    image_bytes: int = 0  # the committed image's size (buildah.image_size), once it exists

    def fields(self) -> dict[str, Any]:
        """The report as data (``--log-format json``)."""
        return {
            "tag": self.tag,
            "size": self.image_bytes,
            "packages": self.package_count,
            "largest": dict(self.largest),
            "saved": {"docs": self.docs_saved, "languages": self.langs_saved},
            "pruned": dict(self.pruned),
            "alternatives": list(self.alternatives),
            "saved_by_resolution": None
            if self.weak_saved is None
            else {"weak_deps": self.weak_saved, "alternatives": self.alternatives_saved},
            "why": dict(self.why),
        }

    def lines(self) -> list[str]:
        largest = ", ".join(f"{name} {human_size(size)}" for name, size in self.largest)
        pruned = sum(size for _name, size in self.pruned)
        lines = [
            f"{self.tag}: {human_size(self.image_bytes)}, {plural(self.package_count, 'package')}",
            f"  largest: {largest or '-'}",
            f"  saved: docs {human_size(self.docs_saved)}, other languages "
            f"{human_size(self.langs_saved)}, pruned {human_size(pruned)}"
            + (f" ({', '.join(n for n, _s in self.pruned)})" if self.pruned else ""),
        ]
        if self.alternatives:
            lines.append(f"  small alternatives: {', '.join(self.alternatives)}")
        if self.weak_saved is not None and self.alternatives_saved is not None:
            lines.append(
                f"  saved by resolution: weak deps {human_size(self.weak_saved)}, "
                f"small alternatives {human_size(self.alternatives_saved)}"
            )
        lines += [f"  why {name}: {chain}" for name, chain in self.why]
        return lines


def make_report(
    tag: str,
    packages: Mapping[str, Package],
    pruned: Sequence[Package],
    alternatives: Iterable[str],
) -> SizeReport:
    docs, langs = doc_or_lang_bytes([*packages.values(), *pruned])
    by_size = sorted(((installed_bytes(p), p.name) for p in packages.values()), reverse=True)
    return SizeReport(
        tag=tag,
        package_count=len(packages),
        largest=tuple((name, size) for size, name in by_size[:5]),
        docs_saved=docs,
        langs_saved=langs,
        pruned=tuple((p.name, installed_bytes(p)) for p in pruned),
        alternatives=tuple(alternatives),
    )
