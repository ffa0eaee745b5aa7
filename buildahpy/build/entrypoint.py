"""Would the image's entrypoint start? The program, found as the runtime finds it, down to the
interpreter it needs.

The program is the entrypoint's first element, else the command's. A name without '/' is looked
up on the image's PATH (the config's, else the runtime's default) as runc does: the first
regular file with an execute bit. A relative path is taken from the working directory. The file
must be a regular file the user may execute: an ELF file whose PT_INTERP is in the image, or a
``#!`` script whose interpreter passes the same test (``#!/usr/bin/env NAME`` also needs NAME on
PATH; scripts may nest 4 deep, as the kernel allows). The config only holds exec form (config.py
accepts lists only), so no shell is implied; a base image's shell form is ``["/bin/sh", "-c",
...]`` there and is checked as such. Every path is resolved inside the rootfs; starts no process.
"""

from __future__ import annotations

import os
import posixpath
import stat

import attrs

from buildahpy.build.elf import ElfError, read_elf
from buildahpy.host.rootfs import RootFS

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SCRIPT_DEPTH = 4  # binfmt_script: an interpreter may itself be a script, this many times
_HEAD = 256  # what the kernel reads of a #! line (BINPRM_BUF_SIZE)


class Unfit(Exception):
    """The program would not start; the message says why, for the user."""


@attrs.frozen
class Account:
    """Who the container's process runs as."""

    uid: int = 0
    gid: int = 0
    groups: frozenset[int] = frozenset()

    def may_execute(self, st: os.stat_result) -> bool:
        if self.uid == 0:  # root: any execute bit will do
            return bool(st.st_mode & 0o111)
        if st.st_uid == self.uid:
            return bool(st.st_mode & stat.S_IXUSR)
        if st.st_gid == self.gid or st.st_gid in self.groups:
            return bool(st.st_mode & stat.S_IXGRP)
        return bool(st.st_mode & stat.S_IXOTH)


ROOT = Account()


@attrs.frozen
class Start:
    """What the container runs: argv, PATH and working directory, as the image will have them."""

    argv: tuple[str, ...]
    path: str = DEFAULT_PATH
    workdir: str = "/"
    account: Account = ROOT


def lookup(root: RootFS, name: str, start: Start) -> str | None:
    """The image path the runtime executes for ``name``; None when PATH has no such program."""
    if "/" in name:
        return posixpath.normpath(posixpath.join(start.workdir, name))
    for directory in start.path.split(":"):
        candidate = posixpath.join(start.workdir, directory or ".", name)
        found = root.stat(candidate)
        if found is not None and stat.S_ISREG(found.st_mode) and found.st_mode & 0o111:
            return posixpath.normpath(candidate)
    return None


def check(root: RootFS, start: Start) -> str:
    """A description of what would run (``/bin/sh -> /usr/sbin/busybox (ELF)``), or Unfit."""
    name = start.argv[0]
    path = lookup(root, name, start)
    if path is None:
        raise Unfit(f"{name} is not on the image's PATH ({start.path})")
    kind = describe(root, path, path, start, 0)
    real = root.resolve(path) or path
    shown = name if real == name else f"{name} -> {real}"
    return f"{shown} ({kind})"


def describe(root: RootFS, path: str, shown: str, start: Start, depth: int) -> str:
    """What the file at ``path`` is, once it is known to be runnable; else Unfit."""
    found = root.stat(path)
    if found is None:
        raise Unfit(f"{shown} is not in the image")
    if not stat.S_ISREG(found.st_mode):
        what = "a directory" if stat.S_ISDIR(found.st_mode) else "not a regular file"
        raise Unfit(f"{shown} is {what}")
    if not start.account.may_execute(found):
        who = "" if start.account == ROOT else f" by uid {start.account.uid}"
        raise Unfit(f"{shown} is not executable{who} (mode {stat.S_IMODE(found.st_mode):04o})")
    head = _head(root, path)
    if head.startswith(b"#!"):
        return _script(root, head, shown, start, depth)
    fd = root.open_regular(path)
    if fd is None:  # replaced meanwhile
        raise Unfit(f"{shown} is not in the image")
    try:
        elf = read_elf(fd)
    except ElfError as exc:
        raise Unfit(f"{shown} is a broken ELF file ({exc})") from None
    finally:
        os.close(fd)
    if elf is None:
        raise Unfit(f"{shown} is neither an ELF binary nor a script starting with #!")
    if not elf.interp:
        return "static ELF"
    if root.stat(elf.interp) is None:
        raise Unfit(f"{shown} needs its ELF interpreter {elf.interp}, which is not in the image")
    return f"ELF, interpreter {elf.interp}"


def _script(root: RootFS, head: bytes, shown: str, start: Start, depth: int) -> str:
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", "surrogateescape").strip()
    words = line.split(None, 1)  # the kernel passes the rest of the line as one argument
    interpreter = words[0] if words else ""
    argument = words[1].strip() if len(words) > 1 else ""
    if not interpreter:
        raise Unfit(f"{shown} starts with #! but names no interpreter")
    if depth >= _SCRIPT_DEPTH:
        raise Unfit(f"{shown} is a script for {interpreter}: too many levels of #! scripts")
    target = posixpath.normpath(posixpath.join(start.workdir, interpreter))
    if root.stat(target) is None:
        raise Unfit(f"{shown} is a script for {interpreter}, which is not in the image")
    describe(root, target, f"{interpreter} (the interpreter of {shown})", start, depth + 1)
    program = _env_program(interpreter, argument)
    if program:
        path = lookup(root, program, start)
        if path is None:
            raise Unfit(
                f"{shown} is a script for {interpreter} {program}, and {program} is not on the "
                f"image's PATH ({start.path})"
            )
        describe(root, path, f"{program} (the interpreter of {shown})", start, depth + 1)
    return f"script for {interpreter}{' ' + argument if argument else ''}"


def _env_program(interpreter: str, argument: str) -> str:
    """The program ``#!/usr/bin/env [-S] [NAME=VALUE...] PROGRAM`` starts; '' for other lines."""
    if posixpath.basename(interpreter) != "env":
        return ""
    for word in argument.split():
        if not word.startswith("-") and "=" not in word:
            return word
    return ""


def _head(root: RootFS, path: str) -> bytes:
    fd = root.open_regular(path)
    if fd is None:
        return b""
    try:
        return os.pread(fd, _HEAD, 0)
    finally:
        os.close(fd)
