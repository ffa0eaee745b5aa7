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


# The reference grammar of containers/image (docker/distribution "reference"): optional
# registry host[:port], lower-case path components, optional tag; a digest is not a build target.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOSTNAME = rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?"
_HOST = rf"(?:{_HOSTNAME}/)"
_REPOSITORY_RE = re.compile(rf"{_HOST}?{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_COMPONENT_RE = re.compile(_COMPONENT)
_HOSTNAME_RE = re.compile(_HOSTNAME)


def tag_problem(tag: object) -> str | None:
    """What is wrong with an image reference to build (None: nothing), said so that the user
    can fix it: the repository name must be lower-case, a tag (``:Latest`` is one) may not be."""
    if not isinstance(tag, str):
        return "it is not a string"
    if not tag:
        return "it is empty"
    if len(tag) > 255:
        return "it is longer than 255 characters"
    if "@" in tag:
        return "a digest (@sha256:...) names an existing image, not one to build"
    if bad := sorted({c for c in tag if c.isspace() or not c.isprintable()}):
        return f"it contains {', '.join(map(repr, bad))}"
    name, version = tag, None
    if ":" in tag.rsplit("/", 1)[-1]:
        name, version = tag.rsplit(":", 1)
    if version == "":
        return "nothing follows ':' (the tag)"
    if version is not None and not _TAG_RE.fullmatch(version):
        return (
            f"the tag {version!r} must be 1-128 letters, digits, '_', '.' or '-', "
            "not starting with '.' or '-'"
        )
    if _REPOSITORY_RE.fullmatch(name):
        return None
    if _REPOSITORY_RE.fullmatch(name.lower()):
        return f"the repository name {name!r} must be lower-case (a tag such as ':Latest' may not)"
    parts = name.split("/")
    for part in parts[1:] if len(parts) > 1 and _HOSTNAME_RE.fullmatch(parts[0]) else parts:
        if not _COMPONENT_RE.fullmatch(part.lower()):
            return (
                f"{part!r} in the repository name: use lower-case letters and digits, "
                "separated by '.', '_', '__' or '-'"
            )
    return "it is not an image reference; expected e.g. 'localhost/nginx:latest'"


# owner= of write_file, copy and mkdir: "user", "user:group", "uid:gid", a uid, (uid, gid)
Owner = tuple[str | int, str | int | None]
_OWNER_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")


def _owner_part(part: str | int, what: str, given: object) -> str | int:
    if isinstance(part, str) and part.isdigit():
        part = int(part)
    if isinstance(part, int) and not isinstance(part, bool) and 0 <= part <= _MAX_ID:
        return part
    if isinstance(part, str) and _OWNER_NAME_RE.fullmatch(part):
        return part
    raise BuildError(
        f"invalid owner {given!r}: the {what} must be a name or a number 0..{_MAX_ID}; "
        "expected e.g. 'app', 'app:app', '1000:1000', 1000 or (1000, 1000)"
    )


def check_owner(owner: object) -> Owner | None:
    """The user and the group (None: the user's own) of ``owner=``; None when not given."""
    if owner is None:
        return None
    if isinstance(owner, tuple) and len(owner) == 2:
        return _owner_part(owner[0], "user", owner), _owner_part(owner[1], "group", owner)
    if isinstance(owner, int) and not isinstance(owner, bool):
        return _owner_part(owner, "user", owner), None
    if isinstance(owner, str) and owner.count(":") <= 1:
        user, _, group = owner.partition(":")
        if user and (group or ":" not in owner):
            checked = _owner_part(group, "group", owner) if group else None
            return _owner_part(user, "user", owner), checked
    raise BuildError(
        f"invalid owner {owner!r}: expected e.g. 'app', 'app:app', '1000:1000', 1000 "
        "or (1000, 1000)"
    )


def owner_text(owner: Owner) -> str:
    """``owner=`` as the dry run shows it: 'app', 'app:app', '1000:1000'."""
    user, group = owner
    return f"{user}" if group is None else f"{user}:{group}"
