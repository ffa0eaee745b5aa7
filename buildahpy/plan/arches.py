"""Target architectures: their names in rpm and in OCI, and where a multi-arch image's parts go.

Pure. An image built for several architectures is one build per architecture (dnf
``--forcearch``, foreign binaries through qemu-user via binfmt_misc), each image carrying its
OCI ``architecture``/``variant``, put together under the recipe's tag as a manifest list. Each
architecture's image is also kept under ``<tag>-<arch>`` (``localhost/app:latest-aarch64``):
what the next run compares its inputs with, and what a recipe on this one builds from.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable

from buildahpy.api.options import ARCH_ALIASES, ARCHES, parse_arches
from buildahpy.errors import UsageError


def parse(names: str | Iterable[str]) -> tuple[str, ...]:
    """``x86_64,aarch64`` (or a list of names) -> ('x86_64', 'aarch64'), without repeats."""
    try:
        return parse_arches(names)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def host_arch() -> str:
    machine = platform.machine()
    return ARCH_ALIASES.get(machine, machine)


def oci_platform(arch: str) -> tuple[str, str]:
    """(architecture, variant) of an image's config; variant "" for none."""
    return ARCHES[arch]


def arch_tag(tag: str, arch: str) -> str:
    """Where one architecture's image of a multi-arch recipe is kept: ``<tag>-<arch>``."""
    return f"{tag}-{arch}"


def build_arches(cli: tuple[str, ...], recipe: tuple[str, ...]) -> tuple[str, ...]:
    """The architectures one recipe is built for (the command line's, else the recipe's); ()
    is the host's alone, built exactly as without any of this."""
    chosen = cli or recipe
    if chosen in ((), (host_arch(),)):
        return ()
    return chosen


def binfmt_entry(arch: str) -> str:
    """The binfmt_misc handler qemu-user registers for ``arch`` (Debian's and Fedora's name)."""
    return f"qemu-{arch}"


def foreign(arches: Iterable[str]) -> list[str]:
    return [arch for arch in arches if arch != host_arch()]


def check_supported(per_recipe: Iterable[tuple[str, ...]], *, reproduce: bool) -> None:
    """What multi-arch builds do not do yet, as a usage error before anything is created."""
    if not any(len(chosen) > 1 for chosen in per_recipe):
        return
    if reproduce:
        raise UsageError(
            "--check-reproducible builds one architecture: not with a multi-arch recipe"
        )
