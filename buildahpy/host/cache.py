"""A download and metadata cache shared by every build and run, kept outside every image.

Layout under the cache root (``--cache-dir``, ``$BUILDAHPY_CACHE_DIR``, /var/cache/buildahpy):

    <flavour>/meta/<key>/     a metadata snapshot: a dnf cachedir without packages, made once per
                              repository revision by one dnf run that fetches the metadata and
                              queries it once, so that libsolv's .solv files are final (see
                              Dnf.makecache_argv), and never changed after
    <flavour>/pool/<repo>/packages/*.rpm   every package a successful build downloaded
    <flavour>/work/<build>/   one build's own dnf cachedir; removed when the build ends
    <flavour>/tmp/            snapshots being made

Why a private cachedir per build and not one shared cachedir: dnf treats its cachedir as its own.
dnf4 rewrites expired_repos.json in place, a metadata refresh replaces a repository's directory,
and two dnf runs downloading the same package write the same file. So each build gets its own
cachedir, assembled from hard links (snapshot metadata and pool packages, on the same filesystem)
plus copies of the small files dnf rewrites in place. dnf writes metadata and solv files to a temp
name and renames it, so a link is replaced, never written through. After a successful recipe the
new packages are linked into the pool; link(2) fails when the name exists, so a file is added
whole exactly once and concurrent builds or runs never replace or delete each other's files.
Packages are therefore fetched once per run, except that builds running at the same moment may
each fetch a package neither found in the pool.

Only Python file operations; the dnf runs are the caller's (fleet.py, build.py).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from buildahpy.host import staging
from buildahpy.host.rootfs import RootFS
from buildahpy.log import get_logger

DEFAULT_ROOT = Path("/var/cache/buildahpy")
DNF4_CACHEDIR = "/var/cache/dnf"
# Files dnf rewrites in place (open + truncate): copied into a build, never linked.
_COPIED_SUFFIXES = (".json", ".pid", ".lock")
# A snapshot nobody used for this long is removed by the next run that makes one.
_SNAPSHOT_TTL_SECONDS = 7 * 24 * 3600


@attrs.frozen
class Snapshot:
    """The metadata snapshot a run's builds use, and the pool next to it."""

    root: Path  # <cache>/<flavour>
    meta: Path  # <root>/meta/<key>

    @property
    def pool(self) -> Path:
        return self.root / "pool"


def cache_root(option: Path | None) -> Path:
    """The option, else $BUILDAHPY_CACHE_DIR, else /var/cache/buildahpy when it can be written
    (root), else $XDG_CACHE_HOME/buildahpy (a user, also inside a user namespace)."""
    if option is not None:
        return option
    if os.environ.get("BUILDAHPY_CACHE_DIR"):
        return Path(os.environ["BUILDAHPY_CACHE_DIR"])
    if os.access(DEFAULT_ROOT if DEFAULT_ROOT.exists() else DEFAULT_ROOT.parent, os.W_OK):
        return DEFAULT_ROOT
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "buildahpy"


def snapshot_key(flavour: str, releasever: str, config: Mapping[str, str]) -> str:
    """Names a snapshot by what dnf would fetch: flavour, release and each repository's revision."""
    text = json.dumps([flavour, releasever, sorted(config.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _dirs(root: Path) -> None:
    for name in ("meta", "pool", "work", "tmp"):
        (root / name).mkdir(parents=True, exist_ok=True, mode=0o700)


def find_snapshot(root: Path, key: str) -> Snapshot | None:
    meta = root / "meta" / key
    if not meta.is_dir():
        return None
    os.utime(meta)  # in use: keeps it from being pruned
    return Snapshot(root, meta)


def make_snapshot(root: Path, key: str, fill: Callable[[Path], None]) -> Snapshot:
    """Run ``fill(staging_dir)`` (dnf fetches and finishes the metadata) and publish the
    result under meta/<key>.

    The rename is atomic; when another run published the same key first, its snapshot is used
    and ours is dropped.
    """
    _dirs(root)
    # locked while it is made: what a killed run leaves there is removed (staging.collect)
    with staging.directory(root / "tmp", "meta-") as made:
        fill(made)
        _drop_packages(made)
        try:
            made.rename(root / "meta" / key)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    prune_snapshots(root, keep=key)
    return Snapshot(root, root / "meta" / key)


def _drop_packages(cachedir: Path) -> None:
    for packages in cachedir.glob("*/packages"):
        shutil.rmtree(packages, ignore_errors=True)


def prune_snapshots(root: Path, keep: str) -> list[str]:
    """Remove snapshots unused for a week (a run in progress touched the one it uses)."""
    removed = []
    cutoff = time.time() - _SNAPSHOT_TTL_SECONDS
    for meta in (root / "meta").iterdir():
        if meta.name != keep and meta.stat().st_mtime < cutoff:
            # rename first so a reader never sees a half-deleted snapshot under its key (onto
            # an empty directory locked as being made, so a kill mid-delete leaves no orphan)
            with staging.directory(root / "tmp", "old-") as doomed:
                try:
                    meta.rename(doomed)
                except OSError:
                    continue
            removed.append(meta.name)
    return removed


def build_cache_path(snapshot: Snapshot, name: str) -> Path:
    """Where the build whose working container is ``name`` keeps its private dnf cachedir (on
    the pool's filesystem, so that its packages are hard links)."""
    return snapshot.root / "work" / name


def open_build_cache(snapshot: Snapshot, name: str) -> Path:
    """A private dnf cachedir for one build: the snapshot's metadata and the pool's packages."""
    _dirs(snapshot.root)
    work = build_cache_path(snapshot, name)
    work.mkdir()  # the name is this build's own (gc.claim): never another build's directory
    for source in sorted(snapshot.meta.rglob("*")):
        target = work / source.relative_to(snapshot.meta)
        if source.is_dir() and not source.is_symlink():
            target.mkdir(exist_ok=True)
        elif source.name.endswith(_COPIED_SUFFIXES) or source.is_symlink():
            shutil.copy2(source, target, follow_symlinks=False)
        else:
            os.link(source, target)
    for package in snapshot.pool.glob("*/packages/*.rpm"):
        target = work / package.relative_to(snapshot.pool)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(package, target)
    return work


def harvest(snapshot: Snapshot, work: Path) -> list[str]:
    """Add the packages a successful build downloaded to the pool (dnf checked their digests)."""
    added = []
    for package in work.glob("*/packages/*.rpm"):
        if package.stat().st_nlink > 1:  # came from the pool
            continue
        target = snapshot.pool / package.relative_to(work)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(package, target)
        except FileExistsError:
            continue  # another build added it first
        added.append(package.name)
    if added:
        get_logger().debug("cached packages", count=len(added))
    return added


def build_caches(root: Path) -> list[Path]:
    """Every build's private cachedir under the cache root (live builds' and leftovers)."""
    return sorted(p for p in root.glob("*/work/*") if p.is_dir() and not p.is_symlink())


def close_build_cache(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)


def link_into(root: RootFS, work: Path) -> None:
    """dnf4 with --installroot uses <root>/var/cache/dnf: make it a link to the build's cachedir
    on the host (the host's dnf follows it; scrub removes the link before commit)."""
    root.remove(DNF4_CACHEDIR)
    parent = str(Path(DNF4_CACHEDIR).parent)
    if not root.exists(parent):  # mkdir would also chmod a base's existing directory
        root.mkdir(parent)
    root.symlink(str(work), DNF4_CACHEDIR)
