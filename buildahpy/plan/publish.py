"""Where built images go after the run: --output (an OCI layout, an OCI or docker archive) and
--push (a registry), with ``{recipe}`` in a destination standing for the recipe's name; and the
fleet's home in a registry (--registry PREFIX, else the first --push destination), where a run
also looks for images that are already up to date.

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
    registry: str = ""  # PREFIX: the fleet's images are PREFIX/<recipe>:<tag>

    @property
    def wanted(self) -> bool:
        return bool(self.outputs or self.push or self.registry)

    @property
    def options(self) -> dict[str, str | bool | None]:
        """What buildah push, buildah pull and skopeo inspect are given to reach the registry."""
        return {"authfile": self.authfile, "tls_verify": self.tls_verify, "creds": self.creds}


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


def check_registry(text: str) -> str:
    """HOST[:PORT][/PATH], under which each image is <recipe>:<tag>."""
    prefix = text.removeprefix("docker://").rstrip("/")
    tagged = TEMPLATE in prefix or re.search(r"/[^/]*:", prefix) or "@" in prefix
    other = re.match(r"[a-z-]+:(?!\d)", prefix)  # another transport, not HOST:PORT
    if not prefix or tagged or other or "://" in prefix or prefix.startswith("/"):
        raise UsageError(f"--registry {text}: expected HOST[:PORT][/PATH], without name or tag")
    return prefix


def home(publish: Publish, recipe: str, tag: str) -> str:
    """Where the fleet keeps an image: PREFIX/<recipe>:<tag's tag> under --registry, else the
    first --push destination; "" when neither is given."""
    if publish.registry:
        return f"docker://{publish.registry}/{recipe}:{tag.rsplit(':', 1)[-1]}"
    return expand(publish.push[0], recipe) if publish.push else ""


def check_templates(publish: Publish, recipes: Sequence[str]) -> None:
    """Two images of the run must not go to one destination."""
    if len(recipes) < 2:
        return
    for dest in (*publish.outputs, *publish.push):
        if TEMPLATE not in dest:
            raise UsageError(f"{dest}: {len(recipes)} images would go there; put {TEMPLATE} in it")


def expand(dest: str, recipe: str) -> str:
    return dest.replace(TEMPLATE, recipe)


def destinations(publish: Publish, recipe: str, *, up_to_date: bool, skip: str = "") -> list[str]:
    """Where one image goes: every output, and the registry unless it was up to date and
    --push-all was not given; never ``skip`` (the home, pushed as soon as the image is built)."""
    found = [expand(dest, recipe) for dest in publish.outputs]
    if not up_to_date or publish.push_all:
        found += [expand(dest, recipe) for dest in publish.push]
    return [dest for dest in found if dest != skip]


def holds_lists(dest: str) -> bool:
    """Whether a destination can hold a manifest list with its images (a registry, an OCI
    layout or archive); a docker archive holds single images only."""
    return not dest.startswith("docker-archive:")


NOTHING = Publish()  # a run that sends its images nowhere
