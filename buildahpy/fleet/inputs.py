"""What an image is built from, as one digest in a label, so that an unchanged recipe is skipped.

The inputs of a build: the recipe's file and the user's own modules it imports (imports.py), its
options and the command line's, the host facts the target is resolved from, what the recipe
does when run against a recording engine (every call, the bytes it writes, the config), the
content of host files it copies in, the base image's id, the revision of every repository's
metadata (the sha256 of its repomd.xml, which is what metalinks publish too) and buildahpy's
version. What the recipe reads from the environment, the clock or anywhere else shows in what it
does; a recipe whose two dry runs differ has unknown inputs and is always built. Repository
revisions are read with urllib (file://, http(s), metalink, mirrorlist), in parallel, once per run
and release; starts no process.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import attrs

from buildahpy import __version__
from buildahpy.api.image import DryEngine, Image
from buildahpy.api.imports import fresh_imports
from buildahpy.api.recipe import Recipe
from buildahpy.api.validate import Owner
from buildahpy.errors import BuildahpyError
from buildahpy.log import get_logger
from buildahpy.plan import lockfile, timestamp
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.plan import Options, repos_of


def _given(owner: Owner | None) -> list[object]:
    """``owner=`` when given (a record without it stays as it was before owners existed)."""
    return [] if owner is None else [list(owner)]


class _Recorder(DryEngine):
    """A dry run that records every call with its full arguments (the bytes written as their
    digest) and the host paths the recipe copies in (their content is an input too)."""

    def __init__(self) -> None:
        self.calls: list[list[object]] = []
        self.copied: list[Path] = []

    def install(self, packages: list[str]) -> None:
        self.calls.append(["install", *packages])

    def remove(self, packages: list[str]) -> None:
        self.calls.append(["remove", *packages])

    def write(self, path: str, data: bytes, mode: int, owner: Owner | None = None) -> None:
        self.calls.append(["write", path, hashlib.sha256(data).hexdigest(), mode, *_given(owner)])

    def copy(self, source: Path, dest: str, mode: int | None, owner: Owner | None = None) -> None:
        self.copied.append(source)  # already resolved against the recipe file's directory
        self.calls.append(["copy", str(source), dest, mode, *_given(owner)])

    def mkdir(self, path: str, mode: int, owner: Owner | None = None) -> None:
        self.calls.append(["mkdir", path, mode, *_given(owner)])

    def symlink(self, target: str, link: str) -> None:
        self.calls.append(["symlink", target, link])

    def add_group(self, name: str, gid: int) -> None:
        self.calls.append(["group", name, gid])

    def add_user(self, name: str, uid: int, gid: int, home: str, shell: str) -> None:
        self.calls.append(["user", name, uid, gid, home, shell])

    def query(self, argv: list[str]) -> str:
        self.calls.append(["query", *argv])
        return ""

    def run(self, argv: list[str]) -> str:
        self.calls.append(["run", *argv])
        return ""

    def rootfs(self) -> Path:
        self.calls.append(["rootfs"])
        return super().rootfs()


def tree_digest(path: Path) -> str:
    """Paths, modes, link targets and content of a host file or tree."""
    digest = hashlib.sha256()
    for item in sorted([path, *path.rglob("*")]) if path.is_dir() else [path]:
        stat = item.lstat()
        digest.update(f"{item.relative_to(path)}\0{stat.st_mode:o}\0".encode())
        if item.is_symlink():
            digest.update(str(item.readlink()).encode())
        elif item.is_file():
            digest.update(hashlib.sha256(item.read_bytes()).digest())
    return digest.hexdigest()


@attrs.frozen
class DryRun:
    record: str  # JSON: every call, the steps and the config, as the recipe made them
    copied: tuple[Path, ...]
    imported: tuple[Path, ...]  # the user's modules the recipe function imported as it ran


def dry_run(recipe: Recipe) -> DryRun:
    """Run the recipe function against an engine that only records; its errors propagate."""
    recorder = _Recorder()
    image = Image(recorder, recipe.file.parent)
    with fresh_imports() as imported:
        recipe.func(image)
    record = {"calls": recorder.calls, "steps": image.steps, "config": repr(image.config_value)}
    return DryRun(json.dumps(record), tuple(recorder.copied), tuple(imported))


def recipe_inputs(recipe: Recipe, options: Options, host: HostRelease, flavour: str) -> str | None:
    """The inputs known before the base and repositories are looked at; None when they cannot
    be known, and the recipe is then always built: its dry run fails (it depends on something
    only a real build knows), or two dry runs record different images (it reads the clock,
    random numbers or anything else that changes from one call to the next)."""
    try:
        first, second = dry_run(recipe), dry_run(recipe)
        if first.record != second.record:
            get_logger().debug("two dry runs differ; always built", recipe=recipe.name)
            return None
        copied = [(str(path), tree_digest(path)) for path in first.copied]
        modules = sorted({*recipe.imports, *first.imported, *second.imported})
        imported = [(str(path), hashlib.sha256(path.read_bytes()).hexdigest()) for path in modules]
    except Exception:  # any failure only means "cannot tell": build it
        return None
    files = [
        (f.name, hashlib.sha256(f.text.encode()).hexdigest())
        for f in repos_of(recipe, options, host).files
    ]
    fields = {
        "source": hashlib.sha256(recipe.file.read_bytes()).hexdigest(),
        "recipe": repr(recipe),
        "options": repr(options),
        "host": repr(host),
        "flavour": flavour,
        "repo_files": files,
        "dry_run": hashlib.sha256(first.record.encode()).hexdigest(),
        "copied": copied,
        "imported": imported,
        "version": __version__,
        # the image's time when set (plan/timestamp.py), so a new value is a rebuild
        "source_date_epoch": os.environ.get(timestamp.ENV, ""),
        # --locked: the lock decides the packages, so a relocked file is a rebuild
        "lock": _lock_digest(recipe) if options.locked else "",
    }
    if options.arch:  # only then, so the digest of a host-arch image stays what it was
        fields["arch"] = options.arch
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _lock_digest(recipe: Recipe) -> str:
    """This recipe's part of its file's lock only: relocking a file changes the entry of a
    recipe built on another, and the base must not be rebuilt (its new id would make that
    entry stale again)."""
    try:
        lock = lockfile.read(recipe.file)
    except BuildahpyError:
        return "unreadable"
    entry = lock.recipes.get(recipe.name) if lock else None
    if lock is None or entry is None:
        return "none"
    own = attrs.evolve(lock, recipes={recipe.name: entry})
    return hashlib.sha256(lockfile.dumps(own).encode()).hexdigest()


def inputs_digest(
    static: str | None, base_id: str | None, repo_revisions: Mapping[str, str | None]
) -> str | None:
    """The label value; None (always build) when any input is unknown."""
    if static is None or any(value is None for value in repo_revisions.values()):
        return None
    fields = {"static": static, "base": base_id or "scratch", "repos": dict(repo_revisions)}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
