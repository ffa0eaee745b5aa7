"""'did you mean ...?' for a package dnf did not find: the nearest names in the metadata of the
enabled repositories that the failed dnf run itself fetched (no second dnf run, no download).

Host binaries: none (reads the build's dnf cache through host/repodata.py).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from pathlib import Path

from buildahpy.build import nospace
from buildahpy.errors import CommandError
from buildahpy.host import dnf, repodata, space
from buildahpy.host.dnf.base import NOT_FOUND
from buildahpy.host.rootfs import RootFS
from buildahpy.plan.plan import Plan

# what a spec's name part is, for specs with a version or arch (``ngnix-1.2``, ``ngnix.x86_64``)
_NAME = re.compile(r"[A-Za-z0-9_+.-]+")


def close_names(missing: str, known: Collection[str], count: int = 3) -> list[str]:
    """The known names nearest to ``missing`` (difflib's ratio, best first), none for a path,
    a glob or a provide, whose nearest name says nothing."""
    if not _NAME.fullmatch(missing) or missing in known:
        return []
    return difflib.get_close_matches(missing, sorted(known), n=count, cutoff=0.6)


def with_suggestions(hint: str, known: Collection[str]) -> str:
    """``package not found in the enabled repositories: ngnix; did you mean 'nginx'?``"""
    if not hint.startswith(NOT_FOUND) or not known:
        return hint
    parts = []
    missing = [name.strip() for name in hint.removeprefix(NOT_FOUND).split(",")]
    for name in missing:
        near = " or ".join(repr(n) for n in close_names(name, known))
        if not near:
            parts.append(name)
        elif len(missing) == 1:
            parts.append(f"{name}; did you mean {near}?")
        else:
            parts.append(f"{name} (did you mean {near}?)")
    return NOT_FOUND + ", ".join(parts)


def explained(error: CommandError, plan: Plan, rootfs: RootFS) -> CommandError:
    """``error`` with the nearest names added to its hint when dnf found no such package, or
    naming the full filesystem when dnf ran out of space."""
    places = [(nospace.CACHE, plan.cachedir)] if plan.cachedir else []
    places.append(nospace.image_place(rootfs.path))
    if full := space.no_space_hint(f"{error.stdout}\n{error.stderr}", places):
        return CommandError(
            error.argv, error.returncode, error.stderr, hint=full, stdout=error.stdout
        )
    if not error.hint.startswith(NOT_FOUND):
        return error
    host_dirs = [Path(plan.cachedir)] if plan.cachedir else []
    known = repodata.cached_names(host_dirs, rootfs, dnf.of(plan).caches)
    hint = with_suggestions(error.hint, known)
    if hint == error.hint:
        return error
    return CommandError(error.argv, error.returncode, error.stderr, hint=hint, stdout=error.stdout)
