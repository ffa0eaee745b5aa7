"""The image configuration a recipe sets with ``image.config(...)``: validated, merged, frozen.

Clearing what a base image set: ``cmd=[]`` and ``entrypoint=[]`` empty them, ``None`` as the
value of an env var, label or annotation removes it, ``healthcheck=[]`` turns the base's off.
"""

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
# SIGTERM, TERM, SIGRTMIN+3 or a number, as buildah config --stop-signal takes them
_SIGNAL = re.compile(r"^(?:(?:SIG)?[A-Z][A-Z0-9]*(?:[+-][0-9]+)?|[0-9]{1,2})$")
# a Go duration, as buildah config --healthcheck-interval takes it: 30s, 1m30s, 500ms
_DURATION = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|ms|s|m|h))+$")
CONFIG_FIELDS = frozenset(
    {"entrypoint", "cmd", "env", "workdir", "user", "ports", "labels", "volumes"}
    | {"stop_signal", "annotations", "healthcheck"}
)
HEALTHCHECK_KEYS = ("cmd", "interval", "timeout", "start_period", "retries")


def _argv(value: object, what: str, *, empty: bool = True) -> tuple[str, ...]:
    """A list of strings; ``[]`` (when ``empty``) clears what the base image set."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not (value or empty):
        raise BuildError(f"config {what} must be a non-empty list of strings, got {value!r}")
    if not all(isinstance(item, str) and "\0" not in item for item in value):
        raise BuildError(f"config {what} must contain only strings, got {value!r}")
    return tuple(value)


def _mapping(value: object, what: str, key_re: re.Pattern[str]) -> dict[str, str | None]:
    """Names to one-line strings; None removes the name (the base image's too)."""
    if not isinstance(value, Mapping):
        raise BuildError(f"config {what} must be a dict of strings, got {value!r}")
    for key, item in value.items():
        if not isinstance(key, str) or not key_re.match(key):
            raise BuildError(f"config {what}: invalid name {key!r}")
        if item is None:
            continue
        if not isinstance(item, str) or "\0" in item or "\n" in item:
            raise BuildError(
                f"config {what}: value of {key!r} must be a one-line string (None removes it)"
            )
    return dict(value)


Pairs = tuple[tuple[str, str], ...]


def _merged(
    pairs: Pairs, removed: tuple[str, ...], given: Mapping[str, str | None]
) -> tuple[Pairs, tuple[str, ...]]:
    """What is set and what is removed once ``given`` applies (a later call wins)."""
    values, gone = dict(pairs), set(removed)
    for key, item in given.items():
        if item is None:
            values.pop(key, None)
            gone.add(key)
        else:
            values[key] = item
            gone.discard(key)
    return tuple(sorted(values.items())), tuple(sorted(gone))


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


def _signal(value: object) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _SIGNAL.match(text):
        raise BuildError(f"config stop_signal: invalid signal {value!r}: expected e.g. 'SIGQUIT'")
    return text


def _duration(value: object, what: str) -> str:
    if not isinstance(value, str) or not _DURATION.match(value):
        raise BuildError(f"config healthcheck {what}: invalid duration {value!r}: e.g. '30s'")
    return value


@attrs.frozen
class Healthcheck:
    """A docker-format HEALTHCHECK: the command (exec form; empty: NONE, turn the base's off)
    and buildah's timings (None: buildah's defaults, 30s, 30s, 0s and 3 retries)."""

    cmd: tuple[str, ...]
    interval: str | None = None
    timeout: str | None = None
    start_period: str | None = None
    retries: int | None = None

    @classmethod
    def parse(cls, value: object) -> Healthcheck:
        given = value if isinstance(value, Mapping) else {"cmd": value}
        unknown = sorted(set(map(str, given)) - set(HEALTHCHECK_KEYS))
        if unknown or "cmd" not in given:
            raise BuildError(
                f"config healthcheck: expected a command (a list) or a dict with keys "
                f"{', '.join(HEALTHCHECK_KEYS)} ('cmd' required), got {value!r}"
            )
        retries = given.get("retries")
        if retries is not None and (
            isinstance(retries, bool) or not isinstance(retries, int) or not 0 < retries < 1000
        ):
            raise BuildError(f"config healthcheck retries: expected 1..999, got {retries!r}")
        times = {
            key: None if given.get(key) is None else _duration(given[key], key)
            for key in ("interval", "timeout", "start_period")
        }
        return cls(_argv(given["cmd"], "healthcheck cmd"), retries=retries, **times)


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
    stop_signal: str | None = None
    annotations: Pairs = ()
    healthcheck: Healthcheck | None = None  # docker format only (see needs_docker_format)
    env_removed: tuple[str, ...] = ()  # names removed, the base image's included
    labels_removed: tuple[str, ...] = ()
    annotations_removed: tuple[str, ...] = ()

    @property
    def needs_docker_format(self) -> bool:
        """The OCI image format has no healthcheck: buildah drops it from an OCI commit."""
        return self.healthcheck is not None

    def merge(self, **given: Any) -> ImageConfig:
        """A new config with the given fields validated and applied (env/labels/ports add up)."""
        changes: dict[str, Any] = {}
        if given.get("entrypoint") is not None:
            changes["entrypoint"] = _argv(given["entrypoint"], "entrypoint")
        if given.get("cmd") is not None:
            changes["cmd"] = _argv(given["cmd"], "cmd")
        if given.get("env") is not None:
            env = _mapping(given["env"], "env", _ENV_KEY)
            changes["env"], changes["env_removed"] = _merged(self.env, self.env_removed, env)
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
            labels = _mapping(given["labels"], "labels", _LABEL_KEY)
            changes["labels"], changes["labels_removed"] = _merged(
                self.labels, self.labels_removed, labels
            )
        if given.get("annotations") is not None:
            notes = _mapping(given["annotations"], "annotations", _LABEL_KEY)
            changes["annotations"], changes["annotations_removed"] = _merged(
                self.annotations, self.annotations_removed, notes
            )
        if given.get("stop_signal") is not None:
            changes["stop_signal"] = _signal(given["stop_signal"])
        if given.get("healthcheck") is not None:
            changes["healthcheck"] = Healthcheck.parse(given["healthcheck"])
        if given.get("volumes") is not None:
            volumes = given["volumes"]
            if isinstance(volumes, str):
                volumes = [volumes]
            changes["volumes"] = tuple(
                sorted({*self.volumes, *(_path(v, "volumes") for v in volumes)})
            )
        merged = attrs.evolve(self, **changes)
        if merged.healthcheck is not None and merged.annotations:
            raise BuildError(
                "config: a healthcheck needs the docker image format, which has no annotations; "
                "set one or the other (labels work in both)"
            )
        return merged
