"""Validation of what a recipe passes in: package specs, image paths, user and group fields.

Each function returns the value it accepts or raises BuildError with one line that says what is
wrong; nothing here starts a process or reads a file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from buildahpy.errors import BuildError

# Package specs dnf understands: names, name-version[-release][.arch], name.arch, globs over
# them, provides such as /usr/bin/sh, pkgconfig(x) or libssl.so.3()(64bit), and "name OP version"
# (glibc >= 2.36). No shell metacharacters or control characters, spaces only around the
# comparison, and never a leading '-', so a recipe's package list can never turn into an option.
_SPEC_RE = re.compile(r"[A-Za-z0-9_/*?\[][A-Za-z0-9_.+:~^/()*?\[\]-]*")
_VERSIONED_RE = re.compile(
    r"[A-Za-z0-9_/][A-Za-z0-9_.+:~^/()-]* (?:<|<=|=|>=|>) [A-Za-z0-9][A-Za-z0-9_.+:~^-]*"
)


def check_packages(packages: Sequence[object]) -> list[str]:
    checked = []
    for spec in packages:
        if (
            not isinstance(spec, str)
            or len(spec) > 256
            or not (_SPEC_RE.fullmatch(spec) or _VERSIONED_RE.fullmatch(spec))
        ):
            raise BuildError(f"invalid package name {spec!r}: not a package name or provide")
        checked.append(spec)
    return checked


def image_path(path: str) -> PurePosixPath:
    """Validate a path inside the image: absolute, not empty, no '..' component."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise BuildError(f"image path {path!r} must be an absolute path inside the image")
    if "\0" in path or ".." in PurePosixPath(path).parts:
        raise BuildError(f"image path {path!r} must not contain '..' or NUL")
    return PurePosixPath(path)


_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,30}\$?$")
_MAX_ID = 2**32 - 2


def check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise BuildError(
            f"invalid {what} name {name!r}: use lower-case letters, digits, '_' or '-'"
        )
    return name


def check_id(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_ID:
        raise BuildError(f"invalid {what} {value!r}: expected a whole number 0..{_MAX_ID}")
    return value


def check_field(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or any(c in value for c in ":\n\0"):
        raise BuildError(f"invalid {what} {value!r}: expected an absolute path without ':'")
    return value
