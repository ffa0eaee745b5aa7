"""dnf 4 (Python, libdnf): plugins off with ``--noplugins``; the cache through a link.

With ``--installroot``, dnf 4.14 writes part of its cache (expired_repos.json) under the
installroot even when ``cachedir`` is set, so it gets no cachedir option at all: the
installroot's /var/cache/dnf is made a link to the build's cachedir on the host (the scrub
removes the link before commit).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from buildahpy.host import cache
from buildahpy.host.dnf.base import Dnf, dnf4_attempts

if TYPE_CHECKING:
    from buildahpy.host.rootfs import RootFS
    from buildahpy.host.tools import Completed

# dnf4's signature messages (dnf/base.py, dnf/cli/commands/__init__.py)
_UNSIGNED = re.compile(r"Package (\S+?)(?:\.rpm)? is not signed")
_NO_KEY = re.compile(
    r"Public key for (\S+?)(?:\.rpm)? is not (installed|trusted)"
    r"(?:\. Failing package is: \S+\s+GPG Keys are configured as: ([^\n]+))?"
)
_WRONG_KEYS = re.compile(
    r'GPG keys listed for the "([^"]+)" repository are already installed but they are not '
    r"correct.*?Failing package is: (\S+)\s+GPG Keys are configured as: ([^\n]+)",
    re.S,
)
_NO_GPGKEY = re.compile(r"Problem repository: \[([^\]\n]+)\]")
_KEY_IMPORT = re.compile(r"Key import failed \(code (\d+)\)")
_UNREADABLE = re.compile(r"Problem opening package (\S+?)(?:\.rpm)?$", re.M)


def _key_problem(nokey: list[tuple[str, str, str]]) -> str:
    package = ", ".join(sorted({found[0] for found in nokey}))
    _, state, keys = nokey[0]
    if state == "trusted":
        return f"package {package} is signed by a key that rpm does not trust"
    if keys:
        return (
            f"package {package} is not signed by a key that its repository trusts"
            f" (gpgkey={keys.strip()})"
        )
    return f"package {package} is signed by an unknown key and its repository names no gpgkey"


def explain_rpm_signature(text: str) -> str | None:
    """What rpm itself said when a signature or key could not be used (both flavours pass these
    messages on)."""
    if failed := _KEY_IMPORT.search(text):
        return f"importing a repository key into the image's rpmdb failed (rpm code {failed[1]})"
    if unreadable := _UNREADABLE.search(text):
        return f"package {unreadable[1]} cannot be read to check its signature"
    return None


# dnf 4's summary after the package table: one line per kind of change ("Install  17
# Packages", "Upgrade  1 Package", "Remove ...") under a rule, then an empty line.
_SUMMARY = re.compile(r"^Transaction Summary\n=+\n((?:\S.*\n)+)", re.MULTILINE)
_INSTALLED = re.compile(r"Install +(\d+) Packages?")


class Dnf4(Dnf):
    name = "dnf4"
    # ``dnf`` (a link to dnf-3 on Debian), or dnf4 and dnf-3 beside a dnf5 that owns ``dnf``
    commands = ("dnf", "dnf4", "dnf-3")
    package = "dnf"
    no_plugins = "--noplugins"
    no_repos = "--disablerepo=*"
    caches = ("/var/cache/dnf", "/var/cache/yum")
    logs = (
        "/var/log/dnf.log",
        "/var/log/dnf.librepo.log",
        "/var/log/dnf.rpm.log",
        "/var/log/hawkey.log",
    )
    state = ("/var/lib/dnf", "/var/lib/yum")

    def attach_cache(self, root: RootFS, work: Path) -> None:
        cache.link_into(root, work)

    def prepare_makecache_root(self, root: Path, staging: Path) -> None:
        (root / "var" / "cache").mkdir(parents=True)
        (root / "var" / "cache" / "dnf").symlink_to(staging)

    def added_count(self, stdout: str) -> int | None:
        found = _SUMMARY.search(stdout)
        lines = found[1].splitlines() if found else []
        only = _INSTALLED.fullmatch(lines[0].strip()) if len(lines) == 1 else None
        return int(only[1]) if only else None

    def download_retries(self, done: Completed) -> int:
        return dnf4_attempts(done.stdout)

    def explain_signature(self, text: str) -> str | None:
        if unsigned := sorted(set(_UNSIGNED.findall(text))):
            return f"package {', '.join(unsigned)} is not signed and its repository has gpgcheck=1"
        if wrong := _WRONG_KEYS.search(text):
            repo, package, keys = wrong.groups()
            return (
                f"package {package} is not signed by a key that repository {repo!r} trusts"
                f" (gpgkey={keys.strip()})"
            )
        if nokey := _NO_KEY.findall(text):
            return _key_problem(nokey)
        if repo_id := _NO_GPGKEY.search(text):
            return (
                f"repository {repo_id.group(1)!r} has gpgcheck=1 but no gpgkey=;"
                " add the URL of its signing key to the .repo file"
            )
        return explain_rpm_signature(text)
