"""The ``image`` object a recipe function receives.

It validates every argument, records each call (the plan a dry run prints), and hands the work to
an engine: the live build (``engine.LiveEngine``) or nothing at all (``DryEngine``).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from buildahpy.api.config import CONFIG_FIELDS, ImageConfig
from buildahpy.api.validate import (
    Owner,
    check_field,
    check_id,
    check_name,
    check_owner,
    check_packages,
    image_path,
    owner_text,
)
from buildahpy.errors import BuildError


class DryEngine:
    """What carries out the recipe's calls; this one does nothing (a dry run): ``run`` returns
    an empty string, the rootfs is a placeholder. The live build's engine overrides each."""

    def install(self, packages: list[str]) -> None: ...
    def remove(self, packages: list[str]) -> None: ...
    def write(self, path: str, data: bytes, mode: int, owner: Owner | None = None) -> None: ...
    def copy(
        self, source: Path, dest: str, mode: int | None, owner: Owner | None = None
    ) -> None: ...
    def mkdir(self, path: str, mode: int, owner: Owner | None = None) -> None: ...
    def symlink(self, target: str, link: str) -> None: ...
    def add_group(self, name: str, gid: int) -> None: ...
    def add_user(self, name: str, uid: int, gid: int, home: str, shell: str) -> None: ...

    def run(self, argv: list[str]) -> str:
        return ""

    def query(self, argv: list[str]) -> str:
        return ""

    def rootfs(self) -> Path:
        return Path("<mountpoint>")


def _check_argv(what: str, argv: object) -> None:
    if (
        isinstance(argv, str)
        or not isinstance(argv, Sequence)
        or not argv
        or not all(isinstance(a, str) for a in argv)
    ):
        raise BuildError(f"{what}: argv must be a non-empty list of strings, got {argv!r}")


def _mode(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o7777:
        raise BuildError(f"{what}: invalid mode {value!r}: expected e.g. 0o644")
    return value


def _owned(owner: Owner | None) -> str:
    return f", owner {owner_text(owner)}" if owner is not None else ""


class Image:
    """What a recipe can do to its image. Paths are absolute paths inside the image; a relative
    host path is relative to ``home``, the recipe file's directory."""

    def __init__(self, engine: DryEngine, home: Path | None = None) -> None:
        self._engine = engine
        self._home = home
        self.steps: list[str] = []
        self.config_value = ImageConfig()
        self.specs: list[str] = []
        self.removed: list[str] = []

    def install(self, *packages: str) -> None:
        names = check_packages(packages)
        self.specs += names
        self.steps.append(f"install {' '.join(names)}")
        self._engine.install(names)

    def remove(self, *packages: str) -> None:
        names = check_packages(packages)
        self.removed += names
        self.steps.append(f"remove {' '.join(names)}")
        self._engine.remove(names)

    def write_file(
        self, path: str, content: str | bytes, mode: int = 0o644, *, owner: object = None
    ) -> None:
        """``owner``: 'app', 'app:app', '1000:1000', a uid or (uid, gid), names looked up in
        the image's /etc/passwd and /etc/group as they are at this call."""
        image_path(path)
        if not isinstance(content, str | bytes):
            raise BuildError(f"write_file {path}: content must be str or bytes")
        data = content.encode() if isinstance(content, str) else content
        who = check_owner(owner)
        self.steps.append(
            f"write {path} ({len(data)} bytes, mode {_mode(mode, path):o}{_owned(who)})"
        )
        self._engine.write(path, data, mode, who)

    def copy(
        self,
        host_path: str | Path,
        image_path_: str,
        mode: int | None = None,
        *,
        owner: object = None,
    ) -> None:
        """A file to ``image_path_``; a directory's contents into ``image_path_`` (as a
        Containerfile's COPY does), modes kept unless ``mode`` is given; missing parents made."""
        image_path(image_path_)
        source = Path(host_path)
        if not source.is_absolute() and self._home is not None:
            source = self._home / source
        if not source.exists() and not source.is_symlink():
            raise BuildError(f"copy: host path {source} does not exist")
        if mode is not None:
            _mode(mode, image_path_)
        who = check_owner(owner)
        self.steps.append(f"copy {source} -> {image_path_}{_owned(who)}")
        self._engine.copy(source, image_path_, mode, who)

    def mkdir(self, path: str, mode: int = 0o755, *, owner: object = None) -> None:
        image_path(path)
        who = check_owner(owner)
        self.steps.append(f"mkdir {path} (mode {_mode(mode, path):o}{_owned(who)})")
        self._engine.mkdir(path, mode, who)

    def symlink(self, target: str, link_path: str) -> None:
        image_path(link_path)
        if not isinstance(target, str) or not target or "\0" in target:
            raise BuildError(f"symlink {link_path}: invalid target {target!r}")
        self.steps.append(f"symlink {link_path} -> {target}")
        self._engine.symlink(target, link_path)

    def add_group(self, name: str, gid: int) -> None:
        check_name(name, "group")
        check_id(gid, "gid")
        self.steps.append(f"group {name} ({gid})")
        self._engine.add_group(name, gid)

    def add_user(
        self, name: str, uid: int, gid: int, home: str = "/", shell: str = "/sbin/nologin"
    ) -> None:
        check_name(name, "user")
        check_id(uid, "uid")
        check_id(gid, "gid")
        check_field(home, "home")
        check_field(shell, "shell")
        self.steps.append(f"user {name} ({uid}:{gid}, {home}, {shell})")
        self._engine.add_user(name, uid, gid, home, shell)

    def run(self, argv: Sequence[str]) -> str:
        _check_argv("run", argv)
        self.steps.append(f"run {shlex.join(argv)}")
        return self._engine.run(list(argv))

    def query(self, argv: Sequence[str]) -> str:
        """Run a command that only reads, for its output (``busybox --list``). buildah's chroot
        runner can exit before it has relayed a quick command's output (about one run in 150
        on a loaded machine with buildah 1.28; seen once with 1.43): a query that exits 0
        having printed nothing, on stdout or stderr, runs again, up to 3 times in all. Use
        ``run`` for a command that changes the image."""
        _check_argv("query", argv)
        self.steps.append(f"query {shlex.join(argv)}")
        return self._engine.query(list(argv))

    def config(self, **fields: Any) -> None:
        unknown = sorted(set(fields) - CONFIG_FIELDS)
        if unknown:
            raise BuildError(f"config: unknown field(s) {', '.join(unknown)}")
        self.config_value = self.config_value.merge(**fields)

    @property
    def rootfs(self) -> Path:
        """The mounted rootfs on the host, for reading (write through the methods above)."""
        return self._engine.rootfs()
