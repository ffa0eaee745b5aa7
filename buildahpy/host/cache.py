"""A download and metadata cache shared by every build and run, kept outside every image.

Layout under the cache root (``--cache-dir``, ``$BUILDAHPY_CACHE_DIR``, /var/cache/buildahpy):

    <flavour>/meta/<key>/     a metadata snapshot: a dnf cachedir without packages, made once per
                              repository revision by one dnf run that fetches the metadata and
                              queries it once, so that libsolv's .solv files are final (see
                              Dnf.makecache_argv), and never changed after
    <flavour>/pool/<repo>/packages/*.rpm   every package a successful build downloaded
    <flavour>/work/<build>/   one build's own dnf cachedir; removed when the build ends
    <flavour>/tmp/            snapshots being made (each flock(2)ed by its maker, so that gc
                              removes one whose maker was killed), and ones being removed

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

A snapshot records its files' digests when it is made, and a damaged one is remade; a pool
package is linked into a build only when its size and checksum are those the snapshot's
primary.xml lists, and a damaged one is dropped (cachecheck.py). A cache owned by another user is
not used at all: its snapshots and packages are whatever that user put there.

Only Python file operations; the dnf runs are the caller's (fleet.py, build.py).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from buildahpy.host import cachecheck
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
    # the pool packages (relative to the pool) found when the snapshot was taken into use that
    # are not the snapshot's (another revision's, or damaged and not removable): never linked.
    # Those added since came from downloads dnf checked (harvest).
    rejected: frozenset[str] = frozenset()

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
    """The snapshot under ``key`` with the pool packages checked against it; None when there
    is none, or it was damaged (it is removed: the caller makes it again)."""
    cachecheck.check_owner(root)
    meta = root / "meta" / key
    if not meta.is_dir():
        return None
    try:
        os.utime(meta)  # in use: keeps it from being pruned
    except OSError as exc:  # utime's error names no file
        raise OSError(f"the shared cache {root} cannot be written ({exc.strerror})") from exc
    damage = cachecheck.snapshot_damage(meta)
    if damage:
        get_logger().warning("remaking a damaged metadata snapshot", path=str(meta), cause=damage)
        _discard(root, meta)
        return None
    return Snapshot(root, meta, cachecheck.check_pool(root / "pool", meta))


def _discard(root: Path, meta: Path) -> None:
    # rename first so a reader never sees a half-deleted snapshot under its key
    doomed = root / "tmp" / f"old-{meta.name}-{os.getpid()}"
    try:
        meta.rename(doomed)
    except FileNotFoundError:
        return  # another run removed it first
    shutil.rmtree(doomed, ignore_errors=True)


def make_snapshot(root: Path, key: str, fill: Callable[[Path], None]) -> Snapshot:
    """Run ``fill(staging_dir)`` (dnf fetches and finishes the metadata) and publish the
    result under meta/<key>.

    The rename is atomic; when another run published the same key first, its snapshot is used
    and ours is dropped.
    """
    cachecheck.check_owner(root)
    _dirs(root)
    staging, held = _locked_staging(root / "tmp")
    try:
        fill(staging)
        _drop_packages(staging)
        cachecheck.write_manifest(staging)
        try:
            staging.rename(root / "meta" / key)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(held)
    prune_snapshots(root, keep=key)
    meta = root / "meta" / key
    return Snapshot(root, meta, cachecheck.check_pool(root / "pool", meta))


def collect_staging(cache: Path) -> list[str]:
    """Remove what killed runs left in every flavour's tmp/: snapshot staging whose maker's
    lock is free (renamed away under that lock, so its maker, if it just made it, sees it gone
    and makes another), and snapshots that were being removed."""
    removed = []
    for staging in sorted(cache.glob("*/tmp/meta-*")):
        try:
            fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue  # gone meanwhile: published, or collected by another run
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            doomed = staging.with_name(f"old-{staging.name}-{os.getpid()}")
            staging.rename(doomed)  # under the lock: its maker, if any, is gone
        except OSError:
            continue  # being made (its lock is held), or renamed by another collector
        finally:
            os.close(fd)
        shutil.rmtree(doomed, ignore_errors=True)
        removed.append(staging.name)
    for doomed in sorted(cache.glob("*/tmp/old-*")):
        shutil.rmtree(doomed, ignore_errors=True)  # renamed away: no reader uses it
        removed.append(doomed.name)
    return removed


def _locked_staging(tmp: Path) -> tuple[Path, int]:
    """A new staging directory and the descriptor holding its flock until the snapshot is
    published (the flock(2) is on the inode: the rename keeps it). gc removes a ``meta-*``
    whose lock is free; one it took between our mkdir and our lock is made again."""
    while True:
        staging = Path(tempfile.mkdtemp(prefix="meta-", dir=tmp))
        try:
            fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.stat(staging).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return staging, fd
        os.close(fd)


def _drop_packages(cachedir: Path) -> None:
    for packages in cachedir.glob("*/packages"):
        shutil.rmtree(packages, ignore_errors=True)


def prune_snapshots(root: Path, keep: str) -> list[str]:
    """Remove snapshots unused for a week (a run in progress touched the one it uses)."""
    removed = []
    cutoff = time.time() - _SNAPSHOT_TTL_SECONDS
    for meta in (root / "meta").iterdir():
        if meta.name != keep and meta.stat().st_mtime < cutoff:
            try:
                _discard(root, meta)
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
        if str(package.relative_to(snapshot.pool)) in snapshot.rejected:
            continue
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
