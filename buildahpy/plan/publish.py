"""Where built images go after the run: --output (an OCI layout, an OCI or docker archive) and
--push (a registry), with ``{recipe}`` in a destination standing for the recipe's name.

Pure: checks and expands destinations; host/buildah.py pushes. Not part of Options, so where an
image is sent never changes its inputs digest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from buildahpy.errors import UsageError

OUTPUT_TRANSPORTS = ("oci", "oci-archive", "docker-archive")
TEMPLATE = "{recipe}"


@attrs.frozen
class Publish:
    outputs: tuple[str, ...] = ()  # transport:path[:ref], each a template
    push: tuple[str, ...] = ()  # registry references, each a template
    push_all: bool = False  # push the up-to-date images too
    authfile: str = ""
    tls_verify: bool | None = None
    creds: str = ""

    @property
    def wanted(self) -> bool:
        return bool(self.outputs or self.push)


def check_output(text: str) -> str:
    transport, sep, rest = text.partition(":")
    if not sep or transport not in OUTPUT_TRANSPORTS or not rest:
        raise UsageError(
            f"--output {text}: expected {', '.join(f'{t}:PATH' for t in OUTPUT_TRANSPORTS)}"
        )
    return text


def check_push(text: str) -> str:
    reference = text.removeprefix("docker://")
    # another transport (oci:, dir:, ...), not HOST:PORT
    other = re.match(r"[a-z-]+:(?!\d)", reference)
    if not reference or "://" in reference or reference.startswith("/") or other:
        raise UsageError(f"--push {text}: expected a registry reference (HOST[:PORT]/NAME[:TAG])")
    return f"docker://{reference}"


def check_templates(publish: Publish, recipes: Sequence[str]) -> None:
    """Two images of the run must not go to one destination."""
    if len(recipes) < 2:
        return
    for dest in (*publish.outputs, *publish.push):
        if TEMPLATE not in dest:
            raise UsageError(f"{dest}: {len(recipes)} images would go there; put {TEMPLATE} in it")


def expand(dest: str, recipe: str) -> str:
    return dest.replace(TEMPLATE, recipe)


def destinations(publish: Publish, recipe: str, *, up_to_date: bool) -> list[str]:
    """Where one image goes: every output, and the registry unless it was up to date and
    --push-all was not given."""
    found = [expand(dest, recipe) for dest in publish.outputs]
    if not up_to_date or publish.push_all:
        found += [expand(dest, recipe) for dest in publish.push]
    return found


def holds_lists(dest: str) -> bool:
    """Whether a destination can hold a manifest list with its images (a registry, an OCI
    layout or archive); a docker archive holds single images only."""
    return not dest.startswith("docker-archive:")


NOTHING = Publish()  # a run that sends its images nowhere
