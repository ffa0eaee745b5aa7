"""What the host's tools can do, read from the tools themselves, once per run.

Host binaries: buildah (``buildah from --help``, ``buildah commit --help``), rpm
(``rpm --querytags``), dnf (``DNF --help``). Versions are never compared: a distribution may
backport an option or drop one, the help text says what this build of the tool accepts. Parsers
are pure; the readers are cached for the life of the process (a build runs each at most once).
"""

from __future__ import annotations

import functools
import re

from buildahpy.errors import CommandError, PreflightError
from buildahpy.host.tools import run

# '--ulimit', '-u, --ulimit', '--ulimit=[]', '--ulimit type=soft:hard' in cobra's, argparse's
# and dnf5's help layouts: an option is a '--' word at a line's start or after a short option.
_OPTION = re.compile(r"(?:^|[\s,\[])(--[A-Za-z0-9][A-Za-z0-9-]*)")


def parse_options(help_text: str) -> frozenset[str]:
    """The long options a help text lists (``--name``, without any value)."""
    found: set[str] = set()
    for line in help_text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("-"):
            continue  # prose that merely mentions an option does not list it
        found.update(_OPTION.findall(" " + stripped.split("  ")[0]))
    return frozenset(found)


def parse_default_ulimits(help_text: str) -> dict[str, str]:
    """buildah's own ``--ulimit`` defaults, as its help shows them (1.28: ``(default
    [nproc=32768:32768])``; 1.43 shows none): name -> ``soft:hard``."""
    found = re.search(r"--ulimit\b[^\n]*\(default \[([^\]]*)\]\)", help_text)
    pairs = (item.split("=", 1) for item in (found[1].split(",") if found else []) if "=" in item)
    return {name.strip(): value.strip() for name, value in pairs}


def parse_querytags(text: str) -> frozenset[str]:
    """The header tags ``rpm --querytags`` names, one per line (upper case)."""
    return frozenset(line.strip().upper() for line in text.splitlines() if line.strip())


def _help(argv: list[str]) -> str:
    try:
        done = run(argv, quiet=True)
    except CommandError as error:  # some tools exit non-zero after printing their help
        return f"{error.stdout}\n{error.stderr}"
    except PreflightError:
        return ""
    return f"{done.stdout}\n{done.stderr}"


@functools.cache
def _buildah_help(subcommand: str) -> str:
    return _help(["buildah", subcommand, "--help"])


@functools.cache
def buildah_options(subcommand: str) -> frozenset[str]:
    """Options of ``buildah SUBCOMMAND`` (``from``, ``commit``) on this host."""
    return parse_options(_buildah_help(subcommand))


def buildah_default_ulimits() -> dict[str, str]:
    return parse_default_ulimits(_buildah_help("from"))


@functools.cache
def rpm_tags() -> frozenset[str]:
    return parse_querytags(_help(["rpm", "--querytags"]))


@functools.cache
def dnf_options(command: str) -> frozenset[str]:
    """Global options of this dnf (``dnf``, ``dnf5``, a path)."""
    return parse_options(_help([command, "--help"]))


def warm() -> None:
    """Ask now what every build asks (``buildah from --help``, for its ulimits), so that the
    builds forked from this process inherit the answer instead of each running buildah again."""
    buildah_options("from")


def forget() -> None:
    """Read every tool again on the next question (tests that change PATH)."""
    for reader in (_buildah_help, buildah_options, rpm_tags, dnf_options):
        reader.cache_clear()


def buildah_has(subcommand: str, option: str) -> bool:
    return option in buildah_options(subcommand)


def rpm_has_tag(tag: str) -> bool:
    return tag.upper() in rpm_tags()
