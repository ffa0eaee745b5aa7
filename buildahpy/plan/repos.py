"""The repositories a build reads: where the .repo files are, one reader for them, dnf's vars.

Reads the .repo files and vars files it is pointed at; starts no process and writes nothing.
The plan, the inputs digest and the shared cache all take their repositories from here.
"""

from __future__ import annotations

import configparser
import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import attrs

from buildahpy.errors import UsageError

HOST_REPOSDIRS = ("/etc/yum.repos.d", "/etc/yum/repos.d", "/etc/distro.repos.d")
# Given to dnf as varsdir (both flavours) and read by dnf_vars: the one list of vars dirs.
HOST_VARSDIRS = ("/etc/dnf/vars", "/etc/yum/vars")
_BASEARCH = {"i686": "i386", "i586": "i386", "armv7l": "armhfp", "armv7hl": "armhfp"}


@attrs.frozen
class Repo:
    """An enabled repository: its id, how its metadata is found, and its .repo section."""

    id: str
    kind: str  # baseurl, metalink or mirrorlist
    url: str
    section: tuple[tuple[str, str], ...] = ()  # the .repo section, for its ssl options


_FALSE = ("0", "false", "False", "no")


def host_reposdirs() -> tuple[str, ...]:
    return tuple(d for d in HOST_REPOSDIRS if Path(d).is_dir())


def repo_files(given: Sequence[Path]) -> tuple[Path, ...]:
    """The .repo files a build uses: those given (--repo-file), else the host's."""
    if given:
        return tuple(given)
    return tuple(sorted(p for d in host_reposdirs() for p in Path(d).glob("*.repo")))


def read_sections(path: Path) -> dict[str, dict[str, str]]:
    """One .repo file's repository sections (``main`` is dnf's, not a repository); a file that
    cannot be read or defines none is a usage error."""
    parser = configparser.RawConfigParser(strict=False)
    try:
        with path.open() as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error) as exc:
        raise UsageError(f"{path}: cannot read it as a .repo file: {exc}") from None
    sections = {name: dict(parser.items(name)) for name in parser.sections() if name != "main"}
    if not sections:
        raise UsageError(f"{path}: defines no repository section")
    return sections


def enabled(section: Mapping[str, str]) -> bool:
    return section.get("enabled", "1").strip() not in _FALSE


def repo_ids(files: Iterable[Path]) -> tuple[str, ...]:
    """The ids of the enabled repositories the files define, in order."""
    return tuple(
        name for path in files for name, section in read_sections(path).items() if enabled(section)
    )


def enabled_repos(files: Iterable[Path], variables: Mapping[str, str]) -> list[Repo]:
    """Each enabled repository with the URL dnf would use first (vars substituted)."""
    repos = []
    for path in files:
        for name, section in read_sections(path).items():
            if not enabled(section):
                continue
            items = tuple((k, substitute(v, variables)) for k, v in section.items())
            options = dict(items)
            for kind in ("baseurl", "metalink", "mirrorlist"):  # dnf's order of preference
                if options.get(kind, "").strip():
                    url = options[kind].replace(",", " ").split()[0]
                    repos.append(Repo(name, kind, url, items))
                    break
    return repos


def dnf_vars(releasever: str, varsdirs: Iterable[str] = HOST_VARSDIRS) -> dict[str, str]:
    """The variables dnf substitutes in .repo files, read as dnf reads the varsdirs it is given
    (dnf 4.14 ``Substitutions.update_from_etc``, dnf5 ``Vars::load``): a file per variable, its
    first line without the newline, a later directory over an earlier one, a file over the
    detected arch, the releasever given over any file."""
    machine = platform.machine()
    found = {"arch": machine, "basearch": _BASEARCH.get(machine, machine)}
    for directory in varsdirs:
        path = Path(directory)
        for var in sorted(path.iterdir()) if path.is_dir() else ():
            if var.is_file():
                with var.open(errors="replace") as handle:
                    found[var.name] = handle.readline().removesuffix("\n")
    return {**found, "releasever": releasever}


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """dnf's $var and ${var}; the longest known name wins, unknown ones stay as written."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, text)
