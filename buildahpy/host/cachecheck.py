"""The shared cache's files checked before a build uses them (see cache.py): a snapshot's
metadata against the digests recorded when it was made, pool packages against the size and
checksum the snapshot's primary.xml lists. A damaged snapshot is remade, a damaged package is
dropped from the pool (dnf fetches it again), so a damaged file never reaches an image.

Why not leave it to dnf: a snapshot's .solv files are what dnf resolves from, and nothing
checks them (repomd.xml has no digest of them); dnf reads primary.xml only when its .solv is
missing, so a damaged primary stays in the cache unnoticed. And a package dnf finds damaged
in its cachedir is downloaded again onto the same name: with the pool's file hard-linked there,
dnf4 writes the new bytes through the link into the pool, under the feet of every build that
links it at that moment.

And the cache's owner: a cache directory of another user's is not used (check_owner).

Only Python file operations; starts no process.
"""

from __future__ import annotations

import hashlib
import json
import os
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

from buildahpy.host import repodata
from buildahpy.log import get_logger

MANIFEST = ".buildahpy-files.json"  # in a snapshot: {path: [size, sha256]} of every file
_COMMON = "{http://linux.duke.edu/metadata/common}"
_CHUNK = 1 << 20

Listed = tuple[int, str, str]  # size, checksum type, checksum


class ForeignCacheError(OSError):
    """The cache directory belongs to another user."""


def check_owner(root: Path) -> None:
    """Raise when the cache (``root`` is <cache>/<flavour>) or one of its directories is
    another user's: their snapshots and packages would be installed into our images, and they
    could change them under a build."""
    for path in (root.parent, root, *(root / name for name in ("meta", "pool", "work", "tmp"))):
        with suppress(FileNotFoundError):
            owner = path.lstat().st_uid
            if owner != os.geteuid():
                raise ForeignCacheError(
                    f"the shared cache {path} is owned by uid {owner}, not by this user"
                    f" (uid {os.geteuid()}); building without it (chown it, or pass --cache-dir)"
                )


def digest_of(path: Path, kind: str = "sha256") -> str:
    found = hashlib.new(kind)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            found.update(chunk)
    return found.hexdigest()


def _files(tree: Path) -> list[Path]:
    return sorted(
        p for p in tree.rglob("*") if p.is_file() and not p.is_symlink() and p.name != MANIFEST
    )


def write_manifest(meta: Path) -> None:
    """Record every file of a snapshot being made (dnf has just checked the metadata against
    repomd.xml, and made the .solv files from it)."""
    files = {str(p.relative_to(meta)): [p.stat().st_size, digest_of(p)] for p in _files(meta)}
    (meta / MANIFEST).write_text(json.dumps(files, sort_keys=True))


def snapshot_damage(meta: Path) -> str:
    """'' when every file of the snapshot is the one recorded when it was made; else which
    is not (a snapshot without a record, made by an older version, counts as damaged)."""
    try:
        recorded = json.loads((meta / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        return f"no readable record of its files ({exc})"
    present = {str(p.relative_to(meta)): p for p in _files(meta)}
    if not isinstance(recorded, dict) or sorted(recorded) != sorted(present):
        return "its files are not the ones it was made with"
    for name, path in present.items():
        size, digest = recorded[name]
        if path.stat().st_size != size or digest_of(path) != digest:
            return f"{name} is not the file it was made with"
    return ""


def _primary(meta_repo: Path) -> bytes:
    for path in sorted((meta_repo / "repodata").glob("*primary.xml*")):
        with suppress(ValueError, OSError):
            return repodata._decompress(path.name, path.read_bytes())
    return b""


def listed_packages(meta_repo: Path) -> dict[str, Listed]:
    """File name -> (size, checksum type, checksum) of every package the primary.xml of one
    repository's snapshot lists (dnf names a downloaded package by its location's file name)."""
    listed: dict[str, Listed] = {}
    document = _primary(meta_repo)
    if not document:
        return listed
    with suppress(ET.ParseError):
        for package in ET.fromstring(document).iter(f"{_COMMON}package"):
            checksum = package.find(f"{_COMMON}checksum")
            location = package.find(f"{_COMMON}location")
            size = package.find(f"{_COMMON}size")
            if checksum is None or location is None or size is None:
                continue
            name = location.get("href", "").rsplit("/", 1)[-1]
            kind = {"sha": "sha1"}.get(checksum.get("type") or "", checksum.get("type") or "")
            if kind in hashlib.algorithms_available and name:
                value = (checksum.text or "").strip()
                listed[name] = (int(size.get("package") or -1), kind, value)
    return listed


def _intact(path: Path, listed: Listed | None) -> bool:
    if listed is None:
        return False
    size, kind, value = listed
    try:
        return path.stat().st_size == size and digest_of(path, kind) == value
    except OSError:
        return False


def _drop(path: Path) -> bool:
    """Out of the pool (the whole file was added by link(2), so removing the name is safe for
    builds that linked it: they keep their own link); a read-only pool keeps it, unlinked."""
    try:
        path.unlink()
    except OSError as exc:
        get_logger().warning("cannot drop a damaged package", path=str(path), error=str(exc))
        return False
    get_logger().warning("dropped a damaged package from the shared cache", path=str(path))
    return True


def check_pool(pool: Path, meta: Path) -> frozenset[str]:
    """The pool packages (paths relative to the pool) a build must not be given. One whose
    size or checksum differs from what the snapshot's primary.xml lists is dropped from the
    pool (dnf fetches it again), or rejected when it cannot be; one it does not list is rejected
    (another revision's: kept for a snapshot of that revision; builds never ask for it)."""
    candidates: list[tuple[str, Path, Listed | None]] = []
    for repo in sorted(pool.glob("*/packages")):
        listed = listed_packages(meta / repo.parent.name)
        for package in sorted(repo.glob("*.rpm")):
            name = str(package.relative_to(pool))
            candidates.append((name, package, listed.get(package.name)))
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as workers:
        results = list(workers.map(lambda c: _intact(c[1], c[2]), candidates))
    # a dropped name is free again: the package a build fetches anew is harvested under it
    return frozenset(
        name
        for (name, path, entry), intact in zip(candidates, results, strict=True)
        if not intact and (entry is None or not _drop(path))
    )
