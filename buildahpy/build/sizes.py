"""The size report printed after each build: what is in the image and what minimising saved.

Everything is measured: bytes on disk by walking the rootfs (hard links once, symlinks never
followed), per-package and skipped-file bytes from the rpm headers in the image's rpmdb, pruned
bytes from the headers of the packages removed, and (with --explain) the weak-dependency and
alternatives savings from real dnf resolutions of the same request into a scratch rpmdb.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import attrs

from buildahpy.plan.packages import Package, doc_or_lang_bytes


def human_size(size: float) -> str:
    """Decimal units with three significant digits, the way ``podman images`` prints sizes."""
    units = ["B", "kB", "MB", "GB", "TB"]
    index = 0
    while size >= 1000 and index < len(units) - 1:
        size /= 1000
        index += 1
    return f"{size:.3g} {units[index]}"


def disk_usage(root: Path) -> int:
    """Bytes of regular files below ``root``, each inode once, links not followed."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def installed_bytes(package: Package) -> int:
    return sum(f[1] for f in package.files if f[3] == "normal" and f[5] >= 0)


@attrs.frozen
class SizeReport:
    tag: str
    rootfs_bytes: int
    package_count: int
    largest: tuple[tuple[str, int], ...]
    docs_saved: int
    langs_saved: int
    pruned: tuple[tuple[str, int], ...]
    alternatives: tuple[str, ...]
    weak_saved: int | None = None
    alternatives_saved: int | None = None
    why: tuple[tuple[str, str], ...] = ()

    def lines(self) -> list[str]:
        largest = ", ".join(f"{name} {human_size(size)}" for name, size in self.largest)
        pruned = sum(size for _name, size in self.pruned)
        lines = [
            f"{self.tag}: {human_size(self.rootfs_bytes)} on disk, {self.package_count} packages",
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
    rootfs: Path,
    packages: Mapping[str, Package],
    pruned: Sequence[Package],
    alternatives: Iterable[str],
) -> SizeReport:
    docs, langs = doc_or_lang_bytes([*packages.values(), *pruned])
    by_size = sorted(((installed_bytes(p), p.name) for p in packages.values()), reverse=True)
    return SizeReport(
        tag=tag,
        rootfs_bytes=disk_usage(rootfs),
        package_count=len(packages),
        largest=tuple((name, size) for size, name in by_size[:5]),
        docs_saved=docs,
        langs_saved=langs,
        pruned=tuple((p.name, installed_bytes(p)) for p in pruned),
        alternatives=tuple(alternatives),
    )
