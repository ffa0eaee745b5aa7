"""Target distributions: which family and release to build, and what follows from them.

Pure code: reads /etc/os-release when asked, starts no process.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from buildahpy.errors import UsageError

# Families we know the rpmdb location of, with the first release that moved it to
# /usr/lib/sysimage/rpm (Fedora 36 change "RelocateRPMToUsr"; EL 10 inherited it).
_SYSIMAGE_SINCE = {
    "fedora": 36,
    "centos-stream": 10,
    "rhel": 10,
    "almalinux": 10,
    "rocky": 10,
    "ubi": 10,
}
# The package that makes an image say what it is (/etc/os-release), and the ID it says.
_RELEASE_PACKAGES = {
    "fedora": "fedora-release-identity-container",
    "centos-stream": "centos-stream-release",
    "rhel": "redhat-release",
    "ubi": "redhat-release",
    "almalinux": "almalinux-release",
    "rocky": "rocky-release",
}
_OS_RELEASE_IDS = {"centos-stream": "centos", "ubi": "rhel"}
_ALIASES = {"centos": "centos-stream", "redhat": "rhel", "rhel-ubi": "ubi"}
FAMILIES = tuple(sorted(_SYSIMAGE_SINCE))


@attrs.frozen
class HostRelease:
    """What /etc/os-release says about the host."""

    id: str
    version_id: str
    id_like: tuple[str, ...]

    @property
    def rpm_based(self) -> bool:
        return bool({self.id, *self.id_like} & {"fedora", "rhel", "centos", "suse"})

    @property
    def family(self) -> str | None:
        return normalise_family(self.id) if self.id in (*_SYSIMAGE_SINCE, *_ALIASES) else None

    @property
    def releasever(self) -> str:
        """The $releasever the host's own dnf uses: EL's VERSION_ID carries the minor release
        (9.4), its release package provides system-release(releasever) = 9. Fedora's is one
        number already; a name (rawhide) stays as written."""
        major, dot, _ = self.version_id.partition(".")
        if dot and major.isdigit() and self.family not in (None, "fedora"):
            return major
        return self.version_id


def parse_os_release(text: str) -> HostRelease:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            fields[key] = value.strip().strip("\"'")
    return HostRelease(
        id=fields.get("ID", "linux"),
        version_id=fields.get("VERSION_ID", ""),
        id_like=tuple(fields.get("ID_LIKE", "").split()),
    )


def read_host_release(path: Path = Path("/etc/os-release")) -> HostRelease:
    try:
        return parse_os_release(path.read_text())
    except OSError:
        return HostRelease(id="linux", version_id="", id_like=())


def normalise_family(name: str) -> str:
    family = _ALIASES.get(name.lower(), name.lower())
    if family not in _SYSIMAGE_SINCE:
        raise UsageError(f"unknown distro '{name}'; known: {', '.join(FAMILIES)}")
    return family


@attrs.frozen
class Target:
    family: str
    releasever: str

    @property
    def major(self) -> int | None:
        head = self.releasever.split(".")[0]
        return int(head) if head.isdigit() else None

    @property
    def release_package(self) -> str:
        """What to install into an image that has no /etc/os-release (Fedora's container
        identity; EL's one release package)."""
        return _RELEASE_PACKAGES[self.family]

    @property
    def os_release_id(self) -> str:
        """The ID= the target's /etc/os-release has."""
        return _OS_RELEASE_IDS.get(self.family, self.family)

    def names_release(self, found: HostRelease) -> bool:
        """Whether an os-release names this target: its ID, and its VERSION_ID (EL's carries
        the minor release: 9.4 is release 9)."""
        if found.id != self.os_release_id:
            return False
        if self.family == "fedora" or self.major is None:
            return found.version_id == self.releasever
        return found.version_id.split(".")[0] == self.releasever.split(".")[0]

    @property
    def rpmdb_path(self) -> str:
        """Where the target's own rpm keeps its database (scanners look there)."""
        major = self.major
        # rawhide / eln and other non-numeric releases are newer than any switch point
        if major is None or major >= _SYSIMAGE_SINCE[self.family]:
            return "/usr/lib/sysimage/rpm"
        return "/var/lib/rpm"


def resolve_target(
    *,
    cli_distro: str | None,
    cli_releasever: str | None,
    recipe_distro: str | None,
    recipe_releasever: str | None,
    host: HostRelease,
) -> Target:
    """Command line beats recipe beats host; a release nobody gives is a usage error."""
    distro = cli_distro or recipe_distro
    releasever = cli_releasever or recipe_releasever
    host_family = host.family if host.rpm_based else None
    family = normalise_family(distro) if distro else (host_family or "fedora")
    if not releasever and host_family == family and host.version_id:
        releasever = host.releasever
    if not releasever:
        raise UsageError(
            f"cannot determine the {family} release to build: this host "
            f"({host.id} {host.version_id}) is not {family}; set releasever= in the recipe "
            "or pass --releasever N"
        )
    if not all(ch.isalnum() or ch in "._-" for ch in releasever):
        raise UsageError(f"invalid releasever '{releasever}'")
    return Target(family=family, releasever=releasever)
