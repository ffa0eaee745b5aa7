"""What is in one image and why, as data: each package with its bytes and the chain that
brought it in.

Computed for every build from the finished rpmdb (``minimize.runtime_closure``: pure and cheap)
and carried in the build's result and the run's JSON report, where the fleet's HTML report reads
it. A chain starts at a root (a package that satisfies one of the recipe's specs, one of the
base's, the owner of a path the recipe wrote or of the release file) and follows the runtime
requirement that first reached each package.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from buildahpy.plan.minimize import NEVER_PRUNED, runtime_closure
from buildahpy.plan.packages import Package

REQUESTED = "requested"
FROM_BASE = "in the base image"
RECIPE_PATH = "owns a path the recipe wrote"
RELEASE_FILE = "owns the release file"
IMAGE_STATE = "image state (filesystem layout, accounts, keys): never pruned"
UNREACHED = "no runtime dependency reaches it (its files changed, or pruning is off)"


@attrs.frozen
class Content:
    """One package of an image. ``why`` runs from the root down to this package: the root with
    its reason, then each package with the capability its predecessor requires of it."""

    nevra: str
    size: int  # bytes of the files rpm installed
    why: tuple[tuple[str, str], ...]

    def as_json(self) -> dict[str, Any]:
        return {"nevra": self.nevra, "size": self.size, "why": [list(step) for step in self.why]}


def installed_bytes(package: Package) -> int:
    """As the size report counts it (build/sizes.py): files rpm installed, not docs it skipped."""
    return sum(f[1] for f in package.files if f[3] == "normal" and f[5] >= 0)


def roots_with_reasons(
    named: Iterable[str],
    base: Iterable[str],
    recipe_paths: Iterable[str],
    release: Iterable[str],
) -> dict[str, str]:
    """Root package -> why it is a root; a package that is several is named by the first."""
    roots: dict[str, str] = {}
    for names, reason in (
        (named, REQUESTED),
        (base, FROM_BASE),
        (recipe_paths, RECIPE_PATH),
        (release, RELEASE_FILE),
    ):
        for name in names:
            roots.setdefault(name, reason)
    return roots


def chain(
    reached: Mapping[str, tuple[str, str] | None], roots: Mapping[str, str], name: str
) -> tuple[tuple[str, str], ...]:
    """('nginx', 'requested'), ('openssl-libs', 'libssl.so.3()(64bit)'): root first."""
    if name not in reached:
        return ((name, IMAGE_STATE if name in NEVER_PRUNED else UNREACHED),)
    steps: list[tuple[str, str]] = []
    current: str | None = name
    while current is not None and len(steps) <= len(reached):
        parent = reached[current]
        if parent is None:
            steps.append((current, roots.get(current, REQUESTED)))
            break
        steps.append((current, parent[1]))
        current = parent[0]
    return tuple(reversed(steps))


def contents(
    packages: Mapping[str, Package], roots: Mapping[str, str], weak: bool
) -> tuple[Content, ...]:
    """Every package of the image, by name-version-release.arch, with its bytes and chain."""
    present = [name for name in roots if name in packages]
    reached = runtime_closure(packages, present, weak)
    found = [
        Content(package.nevra, installed_bytes(package), chain(reached, roots, name))
        for name, package in packages.items()
    ]
    return tuple(sorted(found, key=lambda content: content.nevra))
