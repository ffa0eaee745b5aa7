"""The repositories a build reads: where the .repo files are, one reader for them, dnf's vars.

Reads the .repo files, vars files and key files it is pointed at; starts no process and writes
nothing. A preset (plan/distributions/) is one more .repo file, read by the same code.
The plan, the inputs digest and the shared cache all take their repositories from here.
"""

from __future__ import annotations

import configparser
import platform
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import attrs

from buildahpy.errors import UsageError
from buildahpy.plan import distributions
from buildahpy.plan.distro import HostRelease, Target

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
REPOS_MODES = ("auto", "preset", "host")
URL_KINDS = ("baseurl", "metalink", "mirrorlist")  # dnf's order of preference


@attrs.frozen
class RepoFile:
    """A .repo file's name and text: one the user or the host has, or a preset's."""

    name: str
    text: str


@attrs.frozen
class RepoChoice:
    """The .repo files a build reads, and whether they go into its private repos.d (given with
    --repo-file, or a preset) or are read where the host keeps them."""

    files: tuple[RepoFile, ...]
    private: bool
    source: str  # for the dry run: "--repo-file", "host", "preset fedora 40"


def choose(
    given: Sequence[Path],
    target: Callable[[], Target],
    host: HostRelease,
    *,
    mode: str = "auto",
    mirror: str = "",
    gpg_keys: Sequence[Path] = (),
) -> RepoChoice:
    """--repo-file beats everything; else the host's repositories on a host of the target's
    family and release (or with --repos host), else the target's preset. ``target`` is asked
    only when needed: --repo-file builds for any release."""
    if given:
        return RepoChoice(load(given), True, "--repo-file")
    if mode == "host" and (mirror or gpg_keys):
        raise UsageError("--mirror and --gpg-key apply to a preset, not to --repos host")
    by_host = mode == "auto" and not mirror and not gpg_keys and _same_release(target(), host)
    if mode == "host" or by_host:
        return RepoChoice(load(repo_files(())), False, "host")
    chosen = target()
    return RepoChoice((preset_file(chosen, mirror, gpg_keys),), True, preset_name(chosen))


def preset_name(target: Target) -> str:
    return f"preset {target.family} {target.releasever}"


def preset_file(target: Target, mirror: str = "", gpg_keys: Sequence[Path] = ()) -> RepoFile:
    family = distributions.family_of(target.family, target.releasever)
    keys = distributions.resolve_keys(family, target.releasever, gpg_keys)
    name = f"{target.family}-{target.releasever}.repo"
    return RepoFile(name, distributions.render(family, target.releasever, mirror, keys))


def _same_release(target: Target, host: HostRelease) -> bool:
    return host.rpm_based and host.family == target.family and target.names_release(host)


def load(paths: Iterable[Path]) -> tuple[RepoFile, ...]:
    found = []
    for path in paths:
        try:
            found.append(RepoFile(str(path), path.read_text()))
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: cannot read it as a .repo file: {exc}") from None
    return tuple(found)


def host_reposdirs() -> tuple[str, ...]:
    return tuple(d for d in HOST_REPOSDIRS if Path(d).is_dir())


def repo_files(given: Sequence[Path]) -> tuple[Path, ...]:
    """The .repo files a build uses: those given (--repo-file), else the host's."""
    if given:
        return tuple(given)
    return tuple(sorted(p for d in host_reposdirs() for p in Path(d).glob("*.repo")))


def read_sections(source: Path | RepoFile) -> dict[str, dict[str, str]]:
    """One .repo file's repository sections (``main`` is dnf's, not a repository); a file that
    cannot be read or defines none is a usage error."""
    (repo_file,) = load([source]) if isinstance(source, Path) else (source,)
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(repo_file.text, source=repo_file.name)
    except configparser.Error as exc:
        raise UsageError(f"{repo_file.name}: cannot read it as a .repo file: {exc}") from None
    sections = {name: dict(parser.items(name)) for name in parser.sections() if name != "main"}
    if not sections:
        raise UsageError(f"{repo_file.name}: defines no repository section")
    return sections


def enabled(section: Mapping[str, str]) -> bool:
    return section.get("enabled", "1").strip() not in _FALSE


def repo_ids(files: Iterable[Path | RepoFile]) -> tuple[str, ...]:
    """The ids of the enabled repositories the files define, in order."""
    return tuple(
        name for path in files for name, section in read_sections(path).items() if enabled(section)
    )


def enabled_repos(files: Iterable[Path | RepoFile], variables: Mapping[str, str]) -> list[Repo]:
    """Each enabled repository with the URL dnf would use first (vars substituted)."""
    repos = []
    for path in files:
        for name, section in read_sections(path).items():
            if not enabled(section):
                continue
            items = tuple((k, substitute(v, variables)) for k, v in section.items())
            options = dict(items)
            for kind in URL_KINDS:
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
