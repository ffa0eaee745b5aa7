"""Confined file operations inside a mounted image rootfs.

Every path is resolved by the kernel as if the rootfs were ``/``: openat2(2) with RESOLVE_IN_ROOT
(Linux 5.6 or later) for the parent directory, then the last component is handled with *at calls
relative to that directory fd and without following it. An absolute or relative symlink planted in
the image (``/etc/x -> /tmp/host``, ``../../../../tmp/host``, a symlinked parent) therefore resolves
inside the rootfs and can never reach a host file. No string join is ever passed to ``open()``.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from buildahpy.errors import BuildError
from buildahpy.host.openat2 import openat2

Ids = tuple[int, int]  # (uid, gid) as the image's files get them (the namespace's, rootless)


class RootFS:
    """A mounted rootfs, held open by a directory fd; all edits go through it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RootFS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- resolution --------------------------------------------------------------------------
    def _rel(self, path: str | PurePosixPath) -> str:
        return str(path).lstrip("/") or "."

    def open(self, path: str | PurePosixPath, flags: int, mode: int = 0) -> int:
        """An fd for ``path`` resolved inside the rootfs (symlinks followed, but never out)."""
        return openat2(self._fd, self._rel(path), flags, mode)

    def _parent(self, path: str | PurePosixPath) -> tuple[int, str]:
        pure = PurePosixPath("/", str(path).lstrip("/"))
        if pure.name in ("", ".", ".."):
            raise BuildError(f"'{path}' names no file inside the image")
        return self.open(pure.parent, os.O_PATH | os.O_DIRECTORY), pure.name

    # -- queries -----------------------------------------------------------------------------
    def lstat(self, path: str | PurePosixPath) -> os.stat_result | None:
        try:
            parent, name = self._parent(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            return os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None
        finally:
            os.close(parent)

    def stat(self, path: str | PurePosixPath) -> os.stat_result | None:
        """The file ``path`` leads to (links followed, inside the image); None when missing."""
        try:
            fd = self.open(path, os.O_PATH)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return None
            raise
        try:
            return os.fstat(fd)
        finally:
            os.close(fd)

    def open_regular(self, path: str | PurePosixPath) -> int | None:
        """A read-only fd on the regular file ``path`` leads to; None when there is none. A
        device node or FIFO is never opened (a device node in the image is the host's)."""
        found = self.stat(path)
        if found is None or not stat.S_ISREG(found.st_mode):
            return None
        return self.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)

    def exists(self, path: str | PurePosixPath) -> bool:
        try:
            os.close(self.open(path, os.O_PATH))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def read_bytes(self, path: str | PurePosixPath) -> bytes:
        fd = self.open(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def host_escape(
        self, path: str | PurePosixPath, allowed: Sequence[str] = ()
    ) -> tuple[str, str] | None:
        """Where the host's own tools would end up: they join the mountpoint and ``path`` as a
        string and follow links on the host. The first component that leads out of the rootfs
        (and out of every ``allowed`` host directory), with where it leads; or None."""
        root = os.path.realpath(self.path)
        inside = [root, *(os.path.realpath(a) for a in allowed)]
        parts = PurePosixPath("/", str(path).lstrip("/")).parts[1:]
        for depth in range(1, len(parts) + 1):
            prefix = "/" + "/".join(parts[:depth])
            resolved = os.path.realpath(os.path.join(root, prefix.lstrip("/")))
            if not any(resolved == d or resolved.startswith(d + "/") for d in inside):
                return prefix, resolved
        return None

    def readlink(self, path: str | PurePosixPath) -> str:
        parent, name = self._parent(path)
        try:
            return os.readlink(name, dir_fd=parent)
        finally:
            os.close(parent)

    def resolve(self, path: str | PurePosixPath) -> str | None:
        """Where ``path`` leads inside the image, as the kernel resolves it with the rootfs as
        ``/`` (``..`` stops at the root, absolute links restart there); None when a component
        is missing or the links loop. Only for naming a file: opening still goes through
        ``open``, so nothing depends on this string for confinement."""
        todo = list(PurePosixPath("/", str(path).lstrip("/")).parts[1:])
        done: list[str] = []
        links = 0
        while todo:
            part = todo.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                done = done[:-1]
                continue
            here = "/" + "/".join([*done, part])
            st = self.lstat(here)
            if st is None:
                return None
            if not stat.S_ISLNK(st.st_mode):
                done.append(part)
                continue
            links += 1
            if links > 40:  # the kernel's own limit (ELOOP)
                return None
            target = self.readlink(here)
            todo = [*PurePosixPath(target).parts, *todo]
            if target.startswith("/"):
                done, todo = [], todo[1:]
        return "/" + "/".join(done)

    def read_text(self, path: str | PurePosixPath) -> str:
        """A text file of the image ("" when it does not exist)."""
        try:
            return self.read_bytes(path).decode()
        except (FileNotFoundError, NotADirectoryError):
            return ""

    def listdir(self, path: str | PurePosixPath) -> list[str]:
        """The names in a directory of the image ([] when it does not exist)."""
        try:
            fd = self.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            return []
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    def regular_files(self, skip: Sequence[str] = ()) -> Iterator[tuple[str, int, str]]:
        """Every regular file of the image, once: (directory, directory fd, name); the fd is
        valid while the item is handled (open the name relative to it). Walks fd by fd with
        O_NOFOLLOW and never enters a symlink, so a linked directory is neither left through
        nor visited twice; ``skip`` names directories not to enter."""
        top = os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=self._fd)
        yield from _walk(top, "", frozenset(skip))

    def clamp_mtimes(self, epoch: int) -> int:
        """Set every entry newer than ``epoch`` (files, directories, symlinks themselves, the
        root too) to ``epoch``, fd by fd without following a link; returns how many changed."""
        top = os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=self._fd)
        return _clamp(top, epoch) + _clamp_one(self._fd, ".", epoch)

    # -- edits -------------------------------------------------------------------------------
    def write_bytes(
        self,
        path: str | PurePosixPath,
        data: bytes,
        mode: int = 0o644,
        *,
        follow: bool = False,
        owner: Ids | None = None,
    ) -> None:
        """Write a file. A symlink at ``path`` is replaced, never written through, and so is a
        file with other hard links (their content stays); an ordinary file is rewritten in
        place (its owner kept). ``follow`` writes where a link at ``path`` leads instead (still
        inside the rootfs), for a database kept behind a link such as /etc/passwd. ``owner``:
        the file's new ids, set on the written fd (before the mode: a chown clears setuid)."""
        if follow:
            fd = self.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        else:
            parent, name = self._parent(path)
            try:
                st = self._lstat_at(parent, name)
                shared = st is not None and not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1
                if st is not None and (stat.S_ISLNK(st.st_mode) or shared):
                    os.unlink(name, dir_fd=parent)
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
                fd = os.open(name, flags, mode, dir_fd=parent)
            finally:
                os.close(parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if owner is not None:
                os.fchown(handle.fileno(), *owner)
            os.fchmod(handle.fileno(), mode)

    @staticmethod
    def _lstat_at(parent: int, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def real_path(self, path: str | PurePosixPath) -> str:
        """``path`` with the links of its parent directories resolved inside the rootfs, the
        last component kept (the spelling rpm's file lists use: /bin/sh is /usr/bin/sh)."""
        parent, name = self._parent(path)
        try:
            where = os.readlink(f"/proc/self/fd/{parent}")
        finally:
            os.close(parent)
        inside = os.path.relpath(where, os.path.realpath(self.path))
        if inside.startswith(".."):  # RESOLVE_IN_ROOT keeps it inside; never guess otherwise
            return str(PurePosixPath("/", str(path).lstrip("/")))
        return str(PurePosixPath("/", inside, name))

    def mkdir(self, path: str | PurePosixPath, mode: int = 0o755, owner: Ids | None = None) -> None:
        """Create a directory and its missing parents (like ``mkdir -p``), then set its mode;
        ``owner``: the directory's ids (not its parents'), never set through a link at
        ``path``."""
        parts = PurePosixPath("/", str(path).lstrip("/")).parts[1:]
        for depth in range(1, len(parts) + 1):
            prefix = "/" + "/".join(parts[:depth])
            if self.exists(prefix):
                continue
            parent, name = self._parent(prefix)
            try:
                os.mkdir(name, 0o755 if depth < len(parts) else mode, dir_fd=parent)
            except FileExistsError as exc:  # a dangling symlink or a race
                raise BuildError(f"cannot create directory {prefix} in the image: {exc}") from None
            finally:
                os.close(parent)
        if owner is None:
            fd = self.open(path, os.O_RDONLY | os.O_DIRECTORY)
        else:
            parent, name = self._parent(path)
            try:
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
            finally:
                os.close(parent)
        try:
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)

    def make_parents(self, path: str | PurePosixPath) -> None:
        """The missing directories above ``path`` (root's, 0755), as a Containerfile COPY."""
        parent = PurePosixPath("/", str(path).lstrip("/")).parent
        if not self.exists(parent):
            self.mkdir(parent)

    def lchown(self, path: str | PurePosixPath, owner: Ids) -> None:
        """Set the ids of ``path`` itself (a symlink's own, never its target's)."""
        parent, name = self._parent(path)
        try:
            os.chown(name, *owner, dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(parent)

    def symlink(self, target: str, link: str | PurePosixPath, *, parents: bool = False) -> None:
        """Create or replace (like ``ln -sfn``) a symlink; an existing directory is an error.
        ``parents``: make missing directories above it first."""
        if parents:
            self.make_parents(link)
        parent, name = self._parent(link)
        try:
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISDIR(st.st_mode):
                raise BuildError(f"cannot replace directory {link} in the image with a symlink")
            if st is not None:
                os.unlink(name, dir_fd=parent)
            os.symlink(target, name, dir_fd=parent)
        finally:
            os.close(parent)

    def chown(self, path: str | PurePosixPath, uid: int, gid: int) -> None:
        fd = self.open(path, os.O_RDONLY)
        try:
            os.fchown(fd, uid, gid)
        finally:
            os.close(fd)

    def remove(self, path: str | PurePosixPath) -> bool:
        """Delete a file, symlink (not its target) or whole tree; False if nothing was there."""
        try:
            parent, name = self._parent(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(name, dir_fd=parent)  # fd-based: never follows a link out
            else:
                os.unlink(name, dir_fd=parent)
            return True
        except FileNotFoundError:
            return False
        finally:
            os.close(parent)

    def copy_target(self, source: Path, dest: str) -> str:
        """Where a copy of ``source`` goes: a file copied to an existing directory (or to a
        path ending in '/') goes into it, as with COPY; a directory's contents go to ``dest``."""
        try:
            st = self.lstat(dest)
        except OSError:  # a looping link on the way: the copy itself says so
            st = None
        into = dest.endswith("/") or (st is not None and stat.S_ISDIR(st.st_mode))
        if into and not (source.is_dir() and not source.is_symlink()):
            return str(PurePosixPath(dest) / source.name)
        return str(PurePosixPath(dest))

    def copy_in(
        self, source: Path, dest: str, mode: int | None = None, owner: Ids | None = None
    ) -> None:
        """Copy a host file, or a directory's contents, to ``dest`` (see copy_target), making
        missing parents; host symlinks are copied as links. A symlink at ``dest`` (or below
        it) is replaced by what is copied, never followed. Modes are kept unless ``mode`` is
        given (it applies to ``dest`` itself); ``owner`` applies to everything copied."""
        target = self.copy_target(source, dest)
        self.make_parents(target)
        self._copy(source, target, mode, owner)

    def _copy(self, source: Path, dest: str, mode: int | None, owner: Ids | None) -> None:
        if source.is_symlink():
            self.symlink(os.readlink(source), dest)
            if owner is not None:
                self.lchown(dest, owner)
        elif source.is_dir():
            st = self.lstat(dest)
            if st is not None and stat.S_ISLNK(st.st_mode):
                self.remove(dest)  # a directory replaces the link; it is not copied through it
            dir_mode = mode if mode is not None else stat.S_IMODE(source.stat().st_mode)
            self.mkdir(dest, dir_mode, owner)
            for child in sorted(source.iterdir()):
                self._copy(child, str(PurePosixPath(dest) / child.name), None, owner)
        elif source.is_file():
            file_mode = mode if mode is not None else stat.S_IMODE(source.stat().st_mode)
            self.write_bytes(dest, source.read_bytes(), file_mode, owner=owner)
        else:
            raise BuildError(f"cannot copy {source}: not a regular file or directory")


def _walk(fd: int, where: str, skip: frozenset[str]) -> Iterator[tuple[str, int, str]]:
    """Files of the directory open at ``fd`` (closed when done), then its subdirectories."""
    try:
        with os.scandir(fd) as entries:
            listed = [
                (e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False))
                for e in entries
            ]
        for name, _is_dir, is_file in listed:
            if is_file:
                yield where or "/", fd, name
        for name, is_dir, _is_file in listed:
            path = f"{where}/{name}"
            if not is_dir or path in skip:
                continue
            try:
                child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:  # unreadable, or replaced meanwhile: nothing to check in it
                continue
            yield from _walk(child, path, skip)
    finally:
        os.close(fd)


def _clamp_one(fd: int, name: str, epoch: int) -> int:
    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    if st.st_mtime_ns <= epoch * 1_000_000_000 and st.st_atime_ns <= epoch * 1_000_000_000:
        return 0
    os.utime(name, (epoch, epoch), dir_fd=fd, follow_symlinks=False)
    return 1


def _clamp(fd: int, epoch: int) -> int:
    """Clamp the entries of the directory open at ``fd`` (closed when done), depth first, so a
    directory's own time is set after its contents stop changing it."""
    changed = 0
    try:
        with os.scandir(fd) as entries:
            listed = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        for name, is_dir in listed:
            if is_dir:
                child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                changed += _clamp(child, epoch)
            changed += _clamp_one(fd, name, epoch)
    finally:
        os.close(fd)
    return changed
