"""The image configuration a recipe sets with ``image.config(...)``: validated, merged, frozen."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from buildahpy.errors import BuildError

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PORT = re.compile(r"^([0-9]{1,5})(/(tcp|udp|sctp))?$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def _argv(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise BuildError(f"config {what} must be a non-empty list of strings, got {value!r}")
    if not all(isinstance(item, str) and "\0" not in item for item in value):
        raise BuildError(f"config {what} must contain only strings, got {value!r}")
    return tuple(value)


def _mapping(value: object, what: str, key_re: re.Pattern[str]) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise BuildError(f"config {what} must be a dict of strings, got {value!r}")
    for key, item in value.items():
        if not isinstance(key, str) or not key_re.match(key):
            raise BuildError(f"config {what}: invalid name {key!r}")
        if not isinstance(item, str) or "\0" in item or "\n" in item:
            raise BuildError(f"config {what}: value of {key!r} must be a one-line string")
    return dict(value)


def _path(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        raise BuildError(f"config {what} must be an absolute path, got {value!r}")
    return value


def _port(value: object) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    match = _PORT.match(text) if isinstance(text, str) else None
    if not match or not 1 <= int(match.group(1)) <= 65535:
        raise BuildError(f"config ports: invalid port {value!r}: expected e.g. '80/tcp' (1-65535)")
    return match.group(0) if match.group(2) else f"{match.group(0)}/tcp"


def _user(value: object) -> str:
    if not isinstance(value, str) or not _USER.match(value):
        raise BuildError(
            f"config user: invalid user {value!r}: expected 'name', 'uid' or 'uid:gid'"
        )
    return value


@attrs.frozen
class ImageConfig:
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    workdir: str | None = None
    user: str | None = None
    ports: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    volumes: tuple[str, ...] = ()

    def merge(self, **given: Any) -> ImageConfig:
        """A new config with the given fields validated and applied (env/labels/ports add up)."""
        changes: dict[str, Any] = {}
        if given.get("entrypoint") is not None:
            changes["entrypoint"] = _argv(given["entrypoint"], "entrypoint")
        if given.get("cmd") is not None:
            changes["cmd"] = _argv(given["cmd"], "cmd")
        if given.get("env") is not None:
            merged = dict(self.env) | _mapping(given["env"], "env", _ENV_KEY)
            changes["env"] = tuple(sorted(merged.items()))
        if given.get("workdir") is not None:
            changes["workdir"] = _path(given["workdir"], "workdir")
        if given.get("user") is not None:
            changes["user"] = _user(given["user"])
        if given.get("ports") is not None:
            ports = given["ports"]
            if isinstance(ports, str | int):
                ports = [ports]
            changes["ports"] = tuple(sorted({*self.ports, *(_port(p) for p in ports)}))
        if given.get("labels") is not None:
            merged = dict(self.labels) | _mapping(given["labels"], "labels", _LABEL_KEY)
            changes["labels"] = tuple(sorted(merged.items()))
        if given.get("volumes") is not None:
            volumes = given["volumes"]
            if isinstance(volumes, str):
                volumes = [volumes]
            changes["volumes"] = tuple(
                sorted({*self.volumes, *(_path(v, "volumes") for v in volumes)})
            )
        return attrs.evolve(self, **changes)
