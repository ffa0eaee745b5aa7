"""What rpm records of an installed package, as data: its requires (and which of them only a
scriptlet needs), provides and files; and pure questions over a set of them.

``host.rpmdb`` fills these from the image's rpmdb; the decisions in ``plan.minimize`` and the
size report read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

# rpmsense flags (rpm/rpmds.h) of a Requires that only a scriptlet needs: Requires(pre),
# (post), (preun), (postun), (pretrans), (posttrans), and rpm >= 4.20's (preuntrans) and
# (postuntrans).
_SCRIPT_ONLY = (
    (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 7) | (1 << 5) | (1 << 20) | (1 << 21)
)
_RPMLIB = 1 << 24
_RPMFILE_DOC = 1 << 1
# What says which distribution an image is: pruning keeps the packages owning them.
RELEASE_FILES = ("/etc/os-release", "/usr/lib/os-release")


@attrs.frozen
class Header:
    """What an SBOM says of a package, from its rpm header ("" where the tag is not set)."""

    epoch: int = 0
    version: str = ""
    release: str = ""
    arch: str = ""
    license: str = ""
    vendor: str = ""
    packager: str = ""
    sourcerpm: str = ""
    sha256header: str = ""
    sigmd5: str = ""
    buildtime: int = 0  # BUILDTIME: the newest is the image's time (plan/timestamp.py)


@attrs.frozen
class Package:
    name: str
    nevra: str
    size: int
    requires: tuple[tuple[str, int], ...]
    weak: tuple[str, ...]
    provides: tuple[str, ...]
    files: tuple[tuple[str, int, int, str, str, int], ...]  # path size flags state lang mtime
    header: Header = Header()

    @property
    def runtime_requires(self) -> list[str]:
        return [n for n, f in self.requires if not f & (_SCRIPT_ONLY | _RPMLIB)]


def provider_map(packages: Mapping[str, Package]) -> dict[str, list[str]]:
    """Capability (provide or file path) -> names of the packages that satisfy it."""
    providers: dict[str, list[str]] = {}
    for package in packages.values():
        for capability in (*package.provides, *(f[0] for f in package.files), package.name):
            providers.setdefault(capability, []).append(package.name)
    return providers


def doc_or_lang_bytes(packages: Iterable[Package]) -> tuple[int, int]:
    """Bytes of %doc files and of other-language files that rpm did not install."""
    docs = langs = 0
    for package in packages:
        for _path, size, flags, state, lang, _mtime in package.files:
            if state != "not installed":
                continue
            if flags & _RPMFILE_DOC:
                docs += size
            elif lang:
                langs += size
    return docs, langs
