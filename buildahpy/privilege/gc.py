"""Leftovers of killed builds: each build claims its names with a lock; dead claims are reaped.

Host binaries: buildah (through ``buildah.py``).

A build names its working container ``buildahpy-<recipe>-<digest12>-<random>`` (and commits its
image as ``localhost/<that name>:pending`` until the tag is on it) and, before ``buildah from``,
takes an exclusive flock(2) on ``<lock dir>/<name>.lock``, held until both are gone. The kernel
drops a flock when its holder dies, however it dies (SIGKILL, the OOM killer), so a container or
pending image of ours whose lock can be taken belongs to no running build: the next run (and
``python -m buildahpy --gc``) removes it. A name that does not match our pattern exactly, and
one whose lock is held, are never touched.

The lock directory must be the same for every process that sees the same storage, wherever it
runs: ``<graphroot>/buildahpy-locks``. Builders in two containers that bind-mount one storage (a
common CI setup) share its graphroot, but not /run, nor always a runroot; a flock(2) is held on
the inode, so it is seen through any bind mount and from any mount namespace. Inside the
graphroot rather than beside it because a bind mount of the storage may carry only the graphroot;
containers-storage keeps to its own ``<driver>*`` entries there (podman keeps ``libpod/`` there
too). Lock files outlive a reboot, their locks do not: a free one is removed like a leftover.

The lock file is opened close-on-exec and sh closes inherited descriptors, so the tools a build
starts do not hold it: a tool left running by a killed build (dnf finishing its transaction) does
not keep the container claimed.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import re
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from buildahpy.errors import BuildahpyError, BuildError, CommandError, PreflightError
from buildahpy.host import buildah, cache
from buildahpy.log import get_logger, plural

PREFIX = "buildahpy-"
# buildahpy-<recipe name, '_' -> '-'>-<12 hex of the plan digest>-<6 random hex>
NAME_RE = re.compile(r"^buildahpy-[a-z0-9][a-z0-9-]*-[0-9a-f]{12}-[0-9a-f]{6}$")
PENDING_RE = re.compile(r"^localhost/(buildahpy-[a-z0-9-]+):pending$")
LOCK_DIR = "buildahpy-locks"  # in the graphroot


def pending_name(container: str) -> str:
    """The name an image carries from ``buildah commit`` until its tag is on it."""
    return f"localhost/{container}:pending"


@functools.cache
def _graph_root() -> Path:
    # One ``buildah info`` per run: the check at startup asks before any build is forked.
    return Path(buildah.graph_root())


def lock_dir() -> Path:
    """Where the locks live (see the module docstring); created 0700 and checked."""
    path = _graph_root() / LOCK_DIR
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise PreflightError(f"cannot create the lock directory {path}: {exc.strerror}") from None
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise PreflightError(
            f"{path} is not a directory owned by uid {os.geteuid()}; remove it and run again"
        )
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def lock_path(name: str, directory: Path | None = None) -> Path:
    if not NAME_RE.match(name):
        raise BuildError(f"'{name}' is not a buildahpy working container name")
    return (directory or lock_dir()) / f"{name}.lock"


def try_lock(path: Path) -> int | None:
    """An fd holding the exclusive lock on ``path``, or None when a live process holds it.

    Loops until the locked file is the one at ``path``: a reaper may unlink the file between
    our open() and flock(), and a lock on an unlinked file protects nothing.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def release_lock(path: Path, fd: int) -> None:
    """Unlink while still holding the lock, then close (which drops it)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


@contextmanager
def claim(name: str) -> Iterator[None]:
    """Hold the lock of working container ``name`` for as long as the build lives."""
    path = lock_path(name)
    fd = try_lock(path)
    if fd is None:
        raise BuildError(f"working container name {name} is already claimed by another build")
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    try:
        yield
    finally:
        release_lock(path, fd)


def holder(path: Path) -> str:
    """The pid written by the build holding the lock at ``path`` (for messages), or '?'; a
    build in another container wrote the pid it has in its own pid namespace."""
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"


@attrs.frozen
class Collected:
    removed: tuple[tuple[str, str], ...]  # (container, mountpoint or '')
    images: tuple[str, ...]  # pending names removed (the image too, unless it got its tag)
    in_use: tuple[tuple[str, str], ...]  # (name, pid of the build holding it)
    seconds: float


def collect(*, images: bool = True, dry_run: bool = False) -> Collected:
    """Remove every container and pending image of ours whose build is gone; keep the others.

    ``images=False`` (the check at startup) lists images only when a container of ours exists:
    a build killed with a pending image still had its container, which goes last. ``dry_run``:
    say what would go, remove nothing.
    """
    started = time.monotonic()
    containers = {n for n in buildah.containers(PREFIX) if NAME_RE.match(n)}
    pending: dict[str, str] = {}
    if images or containers:
        matches = (PENDING_RE.match(ref) for ref in buildah.image_names())
        pending = {m.group(1): m.group(0) for m in matches if m and NAME_RE.match(m.group(1))}
    directory = lock_dir()
    held: dict[str, int] = {}
    in_use = []
    for name in sorted(containers | set(pending)):
        fd = try_lock(lock_path(name, directory))
        if fd is None:
            in_use.append((name, holder(lock_path(name, directory))))
        else:
            held[name] = fd
    try:
        dead = [n for n in held if n in containers]
        mounts = buildah.mounts() if dead else {}
        refs = [pending[n] for n in held if n in pending]
        removed = dead if dry_run else _remove(dead)
        dropped = refs if dry_run else _drop_images(refs)
    finally:
        for name, fd in held.items():
            if dry_run:
                os.close(fd)
            else:
                release_lock(lock_path(name, directory), fd)
    if dry_run:
        return Collected(
            tuple((n, mounts.get(n, "")) for n in removed), tuple(dropped), tuple(in_use), 0.0
        )
    _sweep(directory, containers | set(pending))
    log = get_logger()
    for name in removed:
        log.info("removed leftover container", container=name, mountpoint=mounts.get(name, ""))
    for ref in dropped:
        log.info("removed leftover image name", image=ref)
    return Collected(
        tuple((n, mounts.get(n, "")) for n in removed),
        tuple(dropped),
        tuple(in_use),
        round(time.monotonic() - started, 2),
    )


def _sweep(directory: Path, names: set[str]) -> None:
    """Remove the free lock files of builds that left no container (killed before ``buildah
    from``, or between ``buildah rm`` and their unlock); a held one is a live build's."""
    for entry in os.listdir(directory):
        name = entry.removesuffix(".lock")
        if name == entry or name in names or not NAME_RE.match(name):
            continue
        fd = try_lock(directory / entry)
        if fd is not None:
            release_lock(directory / entry, fd)


def collect_build_caches(root: Path, directory: Path | None = None) -> list[str]:
    """Remove the private dnf cachedirs (cache.py) of builds that are gone: a build killed
    with SIGKILL never ran its cleanup. Each is named for its build's working container, so
    its lock says whether the build lives; a held one is kept."""
    removed = []
    directory = directory or lock_dir()
    for work in cache.build_caches(root):
        if not NAME_RE.match(work.name):
            continue
        path = lock_path(work.name, directory)
        fd = try_lock(path)
        if fd is None:
            continue
        try:
            cache.close_build_cache(work)
        finally:
            release_lock(path, fd)
        get_logger().info("removed leftover build cache", path=str(work))
        removed.append(work.name)
    return removed


def _remove(names: list[str]) -> list[str]:
    """``buildah rm`` (which also unmounts) in one call; report what is really gone."""
    if not names:
        return []
    try:
        buildah.remove_containers(names)
    except CommandError:
        remaining = set(buildah.containers(PREFIX))
        if any(n in remaining for n in names):
            raise
    remaining = set(buildah.containers(PREFIX))
    return [n for n in names if n not in remaining]


def _drop_images(refs: list[str]) -> list[str]:
    """``buildah rmi`` removes a pending image, or only the name if the tag made it on."""
    if not refs:
        return []
    try:
        buildah.remove_image(*refs)
    except CommandError:
        if set(refs) & set(buildah.image_names()):
            raise
    return refs


RUNS_LOCK = "runs.lock"  # in the lock directory: shared by every run that builds
_held: list[int] = []


def claim_run() -> None:
    """Hold a shared lock on the lock directory's runs.lock until this process exits (its
    forked builds share it): ``buildahpy gc`` removes untagged images only when it can take
    the lock exclusively, that is while no run is building (images.py)."""
    fd = os.open(lock_dir() / RUNS_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW)
    fcntl.flock(fd, fcntl.LOCK_SH)  # waits while a gc removes images: a moment
    _held.append(fd)


@contextmanager
def no_run_building() -> Iterator[bool]:
    """Whether no run is building (and none starts meanwhile): the exclusive runs lock."""
    fd = os.open(lock_dir() / RUNS_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def collect_before_build(cache_root: Path | None = None) -> None:
    """At startup: a leftover that cannot be removed is worth a warning, not a failed build."""
    claim_run()
    try:
        collect(images=False)
        if cache_root is not None:
            collect_build_caches(cache_root)
            cache.collect_staging(cache_root)
    except (BuildahpyError, OSError) as exc:
        get_logger().warning("cannot remove leftover containers", error=str(exc))


def report(result: Collected, *, dry_run: bool = False) -> list[str]:
    """What ``buildahpy gc`` prints about leftovers: one line per container, then a summary."""
    verb = "would remove" if dry_run else "removed"
    mounted = "mounted at" if dry_run else "was mounted at"
    lines = [
        f"{verb} {name}" + (f" ({mounted} {mnt})" if mnt else "") for name, mnt in result.removed
    ]
    lines += [f"{verb} image name {ref}" for ref in result.images]
    lines += [
        f"kept {name} (its build, pid {pid}, is still running)" for name, pid in result.in_use
    ]
    lines.append(
        f"{plural(len(result.removed), 'leftover container')} and "
        f"{plural(len(result.images), 'pending image')} {'to remove' if dry_run else verb}, "
        f"{len(result.in_use)} in use, "
        f"in {result.seconds} s"
    )
    return lines
