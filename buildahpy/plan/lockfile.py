"""A recipe file's lock (``FILE.lock.json``): the exact packages each of its recipes installs.

Pure: the records, their one serialisation (sorted keys, sorted lists, fixed indentation, so an
unchanged resolution against unchanged repositories writes the same bytes), its reading back,
and the digest of what decides a recipe's package set. Writing and fetching are the callers'.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from buildahpy.errors import BuildError
from buildahpy.plan.plan import Plan

VERSION = 1


@attrs.frozen(order=True)
class LockedPackage:
    """One package file, as its repository's primary.xml describes it."""

    name: str
    arch: str
    epoch: int
    version: str
    release: str
    repo: str  # the repository id
    url: str  # where the file was: the repository's URL joined with its location href
    size: int
    sha256: str

    @property
    def nevra(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        return f"{self.name}-{epoch}{self.version}-{self.release}.{self.arch}"

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@attrs.frozen(order=True)
class LockedRepo:
    id: str
    url: str
    revision: str  # sha256 of its repomd.xml when locked (host/repomd.py)
    gpgcheck: bool
    keys: tuple[str, ...]  # fingerprints of the keys its gpgkey= names, sorted


@attrs.frozen
class RecipeLock:
    inputs: str  # inputs_digest(): specs, options and base that decide the package set
    base: str  # the base image's id ("scratch" for none): its packages are not locked here
    arches: Mapping[str, tuple[LockedPackage, ...]]  # each architecture's own packages
    # a multi-arch recipe on a base: each architecture's base image (``<base tag>-<arch>``);
    # empty (and not written) otherwise, so a single-arch lock reads as it always did
    bases: Mapping[str, str] = attrs.field(factory=dict)

    def base_of(self, arch: str) -> str:
        return self.bases.get(arch, self.base)


@attrs.frozen
class Lock:
    repos: tuple[LockedRepo, ...]
    keys: Mapping[str, str]  # fingerprint -> the URL it was read from
    recipes: Mapping[str, RecipeLock]


def lock_path(recipe_file: Path) -> Path:
    """recipes/nginx.py -> recipes/nginx.lock.json"""
    return recipe_file.with_name(f"{recipe_file.stem}.lock.json")


def inputs_digest(plan: Plan, specs: Sequence[str], base: str, release_package: bool) -> str:
    """What decides which packages a recipe installs, and nothing else (a new file it writes
    does not make its lock stale)."""
    fields = {
        "specs": list(specs),
        "target": repr(plan.target),
        "weak_deps": plan.weak_deps,
        "alternatives": plan.minimize.alternatives,
        "table": repr(plan.alternatives),
        "repos": list(plan.repo_ids),
        "base": base,
        "release_package": release_package,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _package(p: LockedPackage) -> dict[str, Any]:
    return attrs.asdict(p)


def dumps(lock: Lock) -> str:
    """The file's bytes: every list sorted, keys sorted, so relocking is byte-stable."""
    document = {
        "version": VERSION,
        "repositories": [
            {**attrs.asdict(r), "keys": sorted(r.keys)} for r in sorted(lock.repos, key=_by_id)
        ],
        "keys": [{"fingerprint": f, "url": u} for f, u in sorted(lock.keys.items())],
        "recipes": {
            name: {
                "inputs": entry.inputs,
                "base": entry.base,
                "arches": {
                    arch: [_package(p) for p in sorted(found)]
                    for arch, found in sorted(entry.arches.items())
                },
                **({"bases": dict(sorted(entry.bases.items()))} if entry.bases else {}),
            }
            for name, entry in sorted(lock.recipes.items())
        },
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _by_id(repo: LockedRepo) -> tuple[str, str]:
    # one id can be several URLs in a multi-arch lock ($basearch), each of its architecture
    return repo.id, repo.url


def loads(text: str, where: Path) -> Lock:
    """Read a lock back; anything not of this format is one clear error."""
    try:
        data = json.loads(text)
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r}, this buildahpy reads {VERSION}")
        repos = tuple(LockedRepo(**{**r, "keys": tuple(r["keys"])}) for r in data["repositories"])
        keys = {k["fingerprint"]: k["url"] for k in data["keys"]}
        recipes = {
            name: RecipeLock(
                inputs=entry["inputs"],
                base=entry["base"],
                arches={
                    arch: tuple(LockedPackage(**p) for p in found)
                    for arch, found in entry["arches"].items()
                },
                bases={str(a): str(b) for a, b in entry.get("bases", {}).items()},
            )
            for name, entry in data["recipes"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BuildError(
            f"{where}: not a buildahpy lock file ({exc}); run buildahpy lock"
        ) from None
    return Lock(repos, keys, recipes)


def missing_arch(lock: Lock | None, recipe: str, wanted: Sequence[str]) -> str | None:
    """The first of ``wanted`` the recipe's lock entry has no packages for; None when it has
    them all, or when there is no entry at all (the build says so, naming the file)."""
    entry = lock.recipes.get(recipe) if lock else None
    if entry is None:
        return None
    return next((arch for arch in wanted if arch not in entry.arches), None)


def read(recipe_file: Path) -> Lock | None:
    path = lock_path(recipe_file)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return loads(text, path)
