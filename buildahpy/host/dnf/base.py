"""What every dnf does the same way; each flavour (dnf4.py, dnf5.py) says how it differs.

Argument lists are built by pure methods from the plan, so tests check them as data; ``run``
is the only caller of the tool runner here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from buildahpy.api.validate import check_packages
from buildahpy.errors import CommandError
from buildahpy.host.tools import Completed, run

if TYPE_CHECKING:
    from buildahpy.host.rootfs import RootFS
    from buildahpy.plan.plan import Plan

_NO_MATCH = (
    re.compile(r"No match for argument:\s*(\S+)"),
    re.compile(r"Unable to find a match: (.+)"),
    re.compile(r"No package (\S+) available"),
)
NOT_FOUND = "package not found in the enabled repositories: "
_PROBLEM = re.compile(r"^\s*(?:Problem|- ).*?(nothing provides .+|conflicts with .+)$", re.M)
# any query of a file's providers makes libsolv add the file provides (see makecache_argv)
SNAPSHOT_QUERY = "--whatprovides=/bin/sh"
_SCRIPTLET = re.compile(r"Error in (\S+) scriptlet in rpm package (\S+)")
# librepo's line per failed attempt of one package file: "[MIRROR] <file>: <cause>"
_MIRROR = re.compile(r"^\[MIRROR\] (\S+\.rpm): (.+?)\s*$", re.M)
# dnf5 (librepo's error) gives the path in the repository, and each attempt's cause after ">>>"
_CANNOT = re.compile(r"Cannot download (?:\S*/)?(\S+\.rpm): (.+?)\s*$", re.M)
_ATTEMPT = re.compile(r"^\s*>>> (.+?)\s*$", re.M)
# librepo's last '>>>' line when every attempt failed: no cause of its own
_GAVE_UP = "No more mirrors to try"
# curl's low-speed limit (dnf's minrate for timeout seconds) or its connect timeout
_TIMEOUT = re.compile(r"Curl error \(28\): Timeout was reached for (\S+)(?: \[([^\]]*)\])?")
# a row of the transaction table: name, arch, version, repository, size
_ROW = re.compile(r"^ +(\S+) +(\S+) +(\S+) +(\S+) +[\d.]+ *[kMG]i?B?\s*$", re.M)


class Dnf:
    """One dnf flavour: its command lines, how it is pointed at a cache, what it leaves in an
    installroot, and how its failures read."""

    name = ""
    commands: tuple[str, ...] = ()  # the commands that may be this dnf, best first
    package = ""  # the Debian and Fedora package that installs it
    no_plugins = ""  # the option that turns plugins off
    no_repos = ""  # the option that enables no repository at all
    # What it leaves in an installroot (`dnf clean all` keeps directories, history and logs).
    caches: tuple[str, ...] = ()
    logs: tuple[str, ...] = ()
    state: tuple[str, ...] = ()

    # -- command lines ------------------------------------------------------------------------
    def common_argv(self, plan: Plan, root: str, *, justdb: bool = False) -> list[str]:
        """Options shared by every transaction: where to install and what to read.

        ``justdb`` records the transaction in the rpmdb without unpacking files: a resolution
        whose result is measured, not installed."""
        tsflags = [] if plan.docs else ["nodocs"]
        tsflags += ["justdb"] if justdb else []
        return [
            plan.dnf_command,
            "-y",
            f"--installroot={root}",
            f"--releasever={plan.target.releasever}",
            f"--config={plan.dnf_conf}",
            f"--setopt=reposdir={','.join(plan.reposdirs)}",
            f"--setopt=install_weak_deps={plan.weak_deps}",
            f"--setopt=tsflags={','.join(tsflags)}",
            f"--setopt=keepcache={bool(plan.cachedir)}",
            self.no_plugins,
            # the host's vars, as the inputs digest reads them (plan.repos.dnf_vars): given
            # reposdir on the command line, dnf 4.14 (cli._read_conf_file) and dnf5 (Base::setup)
            # otherwise read them from inside the empty installroot, and $stream stays as written
            f"--setopt=varsdir={','.join(plan.varsdirs)}",
            *self.own_argv(plan),
            *self.cache_argv(plan),
            # another architecture's packages (dnf4; dnf5 >= 5.1.6): solved for it, and rpm
            # told to ignore that the host is another
            *([f"--forcearch={plan.arch}"] if plan.arch else []),
        ]

    def own_argv(self, plan: Plan) -> list[str]:
        """Options only this flavour needs."""
        return []

    def cache_argv(self, plan: Plan) -> list[str]:
        """A shared-cache build reads the metadata snapshot this run made, never refreshing it."""
        return ["--setopt=metadata_expire=-1"] if plan.cachedir else []

    def install_argv(
        self,
        plan: Plan,
        root: str,
        packages: Sequence[str],
        exclude: Sequence[str] = (),
        *,
        justdb: bool = False,
    ) -> list[str]:
        """``exclude`` hides large providers so the solver picks the small alternative."""
        hide = [f"--setopt=excludepkgs={','.join(exclude)}"] if exclude else []
        base = self.common_argv(plan, root, justdb=justdb)
        return [*base, *hide, "install", *check_packages(packages)]

    def install_files_argv(self, plan: Plan, root: str, files: Sequence[str]) -> list[str]:
        """Install exactly these local .rpm files, with no repository enabled (``--locked``):
        what a repository has now cannot change the transaction."""
        bad = [f for f in files if not (f.startswith("/") and f.endswith(".rpm"))]
        if bad or not files:
            raise ValueError(f"not local .rpm paths: {bad or 'none given'}")
        return [*self.common_argv(plan, root), self.no_repos, "install", *files]

    def remove_argv(self, plan: Plan, root: str, packages: Sequence[str]) -> list[str]:
        return [*self.common_argv(plan, root), "remove", *check_packages(packages)]

    def makecache_argv(self, plan: Plan, root: str) -> list[str]:
        """Fetch every repository's metadata into ``plan.cachedir`` (a fleet run's shared
        snapshot), checking each repository for a newer revision whatever the age of what is
        there, and finish it in the same run.

        Not ``makecache``: libsolv adds the file provides that packages' file requirements need
        (from filelists) on the first query of provides and writes each repository's .solv file
        again with them (dnf4 and dnf5 both). After a bare makecache every build's dnf did that
        to its own copy of the snapshot (~1.3 s per build at Fedora's size); a query for a file
        does it once here, and the builds' copies stay hard links to a final snapshot."""
        argv = [
            a for a in self.common_argv(plan, root) if not a.startswith("--setopt=metadata_exp")
        ]
        return [*argv, "--setopt=metadata_expire=0", "repoquery", SNAPSHOT_QUERY]

    # -- the cache ----------------------------------------------------------------------------
    def attach_cache(self, root: RootFS, work: Path) -> None:
        """Point this dnf at a build's private cachedir, beyond what its options say."""

    def prepare_makecache_root(self, root: Path, staging: Path) -> None:
        """The same for the empty installroot a makecache runs in."""

    # -- results ------------------------------------------------------------------------------
    def added_count(self, stdout: str) -> int | None:
        """How many packages an install added, from this dnf's own transaction summary; None
        where the summary does not say only that (the caller then asks the rpmdb)."""
        return None

    def download_retries(self, done: Completed) -> int:
        """How many download attempts (packages or metadata) failed and were made again, from
        what a successful run of this dnf printed."""
        return 0

    # -- failures -----------------------------------------------------------------------------
    def explain_signature(self, text: str) -> str | None:
        """The package and the key problem behind a failed signature check, or None."""
        return None

    def explain_failure(self, stdout: str, stderr: str) -> str:
        """Turn dnf's output into the one cause a user needs to read."""
        text = f"{stdout}\n{stderr}"
        missing = sorted({m for rx in _NO_MATCH for m in rx.findall(text)})
        if missing:
            return NOT_FOUND + ", ".join(missing)
        if problem := _PROBLEM.search(text):
            return f"dependency problem: {problem.group(1).strip()}"
        if signature := self.explain_signature(text):
            return signature
        if scriptlet := _SCRIPTLET.search(text):
            return f"{scriptlet.group(1)} scriptlet of package {scriptlet.group(2)} failed"
        if download := download_failure(text):
            return download
        return "dnf failed"

    def run(self, argv: Sequence[str], env: Mapping[str, str]) -> Completed:
        try:
            return run(argv, env=env, stream=True)
        except CommandError as error:
            cause = self.explain_failure(error.stdout, error.stderr)
            raise CommandError(
                error.argv, error.returncode, error.stderr, hint=cause, stdout=error.stdout
            ) from None


def download_failure(text: str) -> str | None:
    """``cannot download busybox-1.35.0-1.fc40.x86_64.rpm from repository fixture: <cause>``
    from dnf's output, naming the repository from its transaction table (the last attempt's
    cause: the one that made dnf give up), or None when no package download failed."""
    attempts = _MIRROR.findall(text) or _CANNOT.findall(text)
    if not attempts:
        return None
    filename, cause = attempts[-1]
    tries = sum(1 for name, _ in attempts if name == filename)
    if not text.count("[MIRROR]") and (causes := dnf5_attempts(text)):
        cause, tries = causes[-1], len(causes)
    cause = cause.split(". Calculated:", 1)[0]  # a checksum mismatch: the digests say nothing
    if timeout := _TIMEOUT.search(cause):
        slow = (timeout[2] or "").removeprefix("Operation too slow. ")
        slow = slow[:1].lower() + slow[1:]
        cause = (
            f"timed out ({slow or 'no answer'}; {tries} {'try' if tries == 1 else 'tries'}) at"
            f" {timeout[1]}; --dnf-timeout SECONDS sets how long dnf waits"
        )
    repos = {
        f"{name}-{version.split(':')[-1]}.{arch}.rpm": repo
        for name, arch, version, repo in _ROW.findall(text)
    }
    where = f"repository {repos[filename]}" if filename in repos else "its repository"
    return f"cannot download {filename} from {where}: {cause}"


def dnf5_attempts(text: str) -> list[str]:
    """The cause of each failed download attempt librepo reported under dnf5: a ``>>>`` line
    naming a URL. dnf5's progress bars print their messages (a scriptlet running, its output)
    after ``>>>`` too, and now and then on a build that downloaded nothing."""
    return [
        cause
        for cause in _ATTEMPT.findall(text)
        if "://" in cause and not cause.startswith(_GAVE_UP)
    ]


def dnf4_attempts(text: str) -> int:
    """How many download attempts dnf4 reported as failed (``[MIRROR]`` lines, any file)."""
    return len(re.findall(r"^\[MIRROR\] ", text, re.M))
