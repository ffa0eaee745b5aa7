"""Images in a registry: read without pulling (their config: id and labels), pulled when a build
needs one as its base.

Host binaries: skopeo (inspect), buildah (pull). Argument lists come from pure ``*_argv``
functions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import attrs

from buildahpy.errors import BuildError, CommandError, stderr_tail
from buildahpy.host import buildah
from buildahpy.host.tools import run

# What registries answer for a name or tag they do not have (the distribution spec's error codes
# MANIFEST_UNKNOWN and NAME_UNKNOWN, as skopeo prints them; some registries only say 404).
_ABSENT = ("manifest unknown", "name unknown", "not found")


@attrs.frozen
class RemoteImage:
    id: str  # the config's digest: the id the image has once pulled
    labels: Mapping[str, str]


Access = Mapping[str, str | bool | None]  # authfile, tls_verify, creds (plan/publish.py)


def access_argv(access: Access) -> list[str]:
    authfile, tls_verify, creds = (access.get(k) for k in ("authfile", "tls_verify", "creds"))
    argv = [f"--authfile={authfile}"] if authfile else []
    argv += [f"--tls-verify={str(tls_verify).lower()}"] if tls_verify is not None else []
    return argv + ([f"--creds={creds}"] if creds else [])


def inspect_argv(reference: str, access: Access) -> list[str]:
    # --config --raw: the config blob exactly as stored, so its sha256 is the image's id
    return ["skopeo", "inspect", "--config", "--raw", *access_argv(access), reference]


def pull_argv(reference: str, access: Access) -> list[str]:
    return ["buildah", "pull", "--quiet", *access_argv(access), reference]


def absent(stderr: str) -> bool:
    return any(word in stderr.lower() for word in _ABSENT)


def image_of(raw_config: str) -> RemoteImage:
    config = json.loads(raw_config)
    labels = (config.get("config") or {}).get("Labels") or {}
    image_id = hashlib.sha256(raw_config.encode()).hexdigest()
    return RemoteImage(id=image_id, labels={str(k): str(v) for k, v in labels.items()})


def inspect(reference: str, access: Access) -> RemoteImage | None:
    """The image under ``reference``, or None when the registry has no such name or tag; any
    other failure (unreachable, refused login) is a BuildError naming the reference."""
    try:
        out = run(inspect_argv(reference, access), quiet=bool(access.get("creds"))).stdout
    except CommandError as exc:
        if absent(exc.stderr):
            return None
        raise BuildError(f"cannot read {reference}: {stderr_tail(exc.stderr, lines=1)}") from None
    try:
        return image_of(out)
    except (ValueError, AttributeError) as exc:
        raise BuildError(f"cannot read {reference}: its config is not JSON ({exc})") from None


def pull(reference: str, expected_id: str, access: Access) -> str:
    """Pull ``reference``; its id must be ``expected_id`` (the image the run decided on, not one
    pushed since)."""
    try:
        run(pull_argv(reference, access), quiet=bool(access.get("creds")))
    except CommandError as exc:
        raise BuildError(f"cannot pull {reference}: {stderr_tail(exc.stderr, lines=1)}") from None
    found = buildah.image_id(reference.removeprefix("docker://"))
    if found != expected_id:
        raise BuildError(
            f"pulled {reference} is {found or 'missing'}, not {expected_id[:12]}: "
            "it changed in the registry during the run; run again"
        )
    return found
