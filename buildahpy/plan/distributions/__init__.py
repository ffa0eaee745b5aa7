"""Distribution presets as data: each family's standard repositories, where its mirrors keep
them, and the signing keys it publishes (one small module per family, like mkosi's
distributions/). The facts that follow from a target (rpmdb path, release package, os-release
ID) stay in plan/distro.py; the SBOM's purl namespace is the os-release ID.

Pure: looks for key files on the host when asked, starts no process and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from buildahpy.errors import UsageError

# Where a host keeps distributions' signing keys: Debian 13+, Ubuntu and Fedora's
# distribution-gpg-keys (one directory per family), and the family's own key package on an
# rpm host (fedora-gpg-keys, centos-gpg-keys, redhat-release, almalinux-release ...).
DISTRIBUTION_KEYS = "/usr/share/distribution-gpg-keys"
PKI_KEYS = "/etc/pki/rpm-gpg"


@attrs.frozen
class RepoDef:
    """One repository of a preset, as a .repo section says it."""

    id: str
    name: str
    kind: str  # baseurl, metalink or mirrorlist
    url: str


@attrs.frozen
class Key:
    """A signing key a preset needs: its file name, the directory distribution-gpg-keys keeps it
    in, and the package that puts it in /etc/pki/rpm-gpg on the family's own hosts."""

    file: str
    subdir: str
    package: str
    pki_file: str = ""  # its name in /etc/pki/rpm-gpg when that differs

    def candidates(self, directory: str) -> tuple[Path, ...]:
        """distribution-gpg-keys' place for it, then /etc/pki/rpm-gpg's."""
        return (
            Path(directory) / self.subdir / self.file,
            Path(directory) / (self.pki_file or self.file),
        )


@attrs.frozen
class Family:
    """A family's presets. ``repos(releasever, mirror)`` gives the standard repositories (the
    distribution's own metalink, mirrorlist or baseurl; the mirror's layout when one is given),
    ``keys(releasever)`` the keys they are signed with."""

    name: str
    known: str  # the releases it knows, for the usage error
    accepts: Callable[[str], bool]
    repos: Callable[[str, str], Sequence[RepoDef]]
    keys: Callable[[str], Sequence[Key]]


def join(mirror: str, path: str) -> str:
    return f"{mirror.rstrip('/')}/{path.lstrip('/')}"


def numeric(first: int, last: int | None = None) -> Callable[[str], bool]:
    def accepts(releasever: str) -> bool:
        if not releasever.isdigit():
            return False
        return int(releasever) >= first and (last is None or int(releasever) <= last)

    return accepts


def families() -> dict[str, Family]:
    from buildahpy.plan.distributions import alma, centos, fedora, rocky, ubi

    return {f.FAMILY.name: f.FAMILY for f in (fedora, centos, ubi, alma, rocky)}


def family_of(name: str, releasever: str) -> Family:
    """The preset family for a target; a family or release without presets is a usage error
    naming what is known."""
    known = families()
    found = known.get(name)
    if found is None:
        listed = ", ".join(f"{f.name} ({f.known})" for f in known.values())
        raise UsageError(f"no repository preset for {name}; presets exist for: {listed}")
    if not found.accepts(releasever):
        raise UsageError(
            f"no repository preset for {name} {releasever}; known {name} releases: {found.known}"
        )
    return found


def find_key(key: Key, key_dirs: Sequence[str]) -> Path | None:
    """The first place on the host that has the key: distribution-gpg-keys' family directory,
    then /etc/pki/rpm-gpg."""
    for directory in key_dirs:
        for path in key.candidates(directory):
            if path.is_file():
                return path
    return None


def resolve_keys(
    family: Family,
    releasever: str,
    given: Sequence[Path],
    key_dirs: Sequence[str] = (DISTRIBUTION_KEYS, PKI_KEYS),
) -> tuple[Path, ...]:
    """The key files the preset's repositories name: ``given`` (--gpg-key) instead of the
    distribution's, else the distribution's own from the host. A missing key is a usage error
    that names it and its package: keys are never downloaded, and never skipped."""
    if given:
        missing = [str(path) for path in given if not path.is_file()]
        if missing:
            raise UsageError(f"--gpg-key {missing[0]}: no such file")
        return tuple(path.resolve() for path in given)
    found = []
    for key in family.keys(releasever):
        path = find_key(key, key_dirs)
        if path is None:
            raise UsageError(
                f"{family.name} {releasever}: signing key {key.file} not found in "
                f"{key_dirs[0]}/{key.subdir} or {PKI_KEYS}; install distribution-gpg-keys "
                f"(or {key.package} on a {family.name} host), or pass --gpg-key FILE"
            )
        found.append(path)
    return tuple(found)


def render(
    family: Family, releasever: str, mirror: str, keys: Sequence[Path], *, gpgcheck: bool = True
) -> str:
    """The preset as a .repo file, the form every other repository source has."""
    gpgkey = " ".join(f"file://{path}" for path in keys)
    sections = []
    for repo in family.repos(releasever, mirror):
        lines = [
            f"[{repo.id}]",
            f"name={repo.name}",
            f"{repo.kind}={repo.url}",
            "enabled=1",
            f"gpgcheck={int(gpgcheck)}",
            f"gpgkey={gpgkey}",
        ]
        if repo.kind == "metalink":
            lines.append("repo_gpgcheck=0")
        sections.append("\n".join(lines) + "\n")
    source = f"mirror {mirror}" if mirror else "the distribution's own mirrors"
    head = f"# buildahpy preset: {family.name} {releasever}, from {source}\n"
    return head + "\n".join(sections)
