"""The host's dnf (dnf4 or dnf5) pointed at the image rootfs with ``--installroot``.

Host binaries: dnf, dnf5, dnf4 or dnf-3, whichever is the flavour asked for (the file, or
``--version``, tells dnf4 from dnf5). Argument lists are built by pure
functions from the plan, so tests check them as data; ``run_transaction`` is the only caller of
the tool runner here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import BuildError, CommandError, PreflightError
from .tools import run, which

if TYPE_CHECKING:
    from .plan import Plan

DNF4 = "dnf4"
DNF5 = "dnf5"

# Package specs dnf understands: names, globs, provides such as /usr/bin/sh, pkgconfig(x),
# name-version, name.arch. No whitespace, no shell metacharacters, and never a leading '-' so a
# recipe's package list can never turn into a dnf option.
_SPEC_RE = re.compile(r"^[A-Za-z0-9_/][A-Za-z0-9_.+:~^/()*?\[\],-]*$")


def check_packages(packages: Sequence[object]) -> list[str]:
    checked = []
    for spec in packages:
        if not isinstance(spec, str) or not _SPEC_RE.match(spec) or len(spec) > 256:
            raise BuildError(f"invalid package name {spec!r}: not a package name or provide")
        checked.append(spec)
    return checked


def detect_flavour(version_output: str) -> str:
    """dnf4 prints its version ('4.14.0') first; dnf5 says 'dnf5 version 5.x' or starts with 5."""
    first = version_output.strip().splitlines()[0] if version_output.strip() else ""
    if "dnf5" in version_output or re.match(r"^5\.", first):
        return DNF5
    return DNF4


def flavour_from_path(path: str) -> str | None:
    """Tell the flavour from the installed file alone, without starting Python's dnf (~0.3 s).

    Fedora 41+ links /usr/bin/dnf to dnf5; dnf4 is a Python script (or a link to dnf-3).
    """
    real = os.path.realpath(path)
    name = os.path.basename(real)
    if name.startswith("dnf5"):
        return DNF5
    if name in ("dnf-3", "dnf4"):
        return DNF4
    try:
        with open(real, "rb") as handle:
            first = handle.readline(200)
    except OSError:
        return None
    return DNF4 if first.startswith(b"#!") and b"python" in first else None


def host_flavour(dnf: str = "dnf") -> str:
    path = which(dnf)
    known = flavour_from_path(path) if path else None
    if known:
        return known
    return detect_flavour(run([dnf, "--version"], hint="cannot run the host's dnf").stdout)


def candidates(flavour: str) -> tuple[str, ...]:
    """The commands that may be the host's dnf of ``flavour`` (``auto``: any), best first.

    Debian's dnf5 ships only /usr/bin/dnf5, Fedora 41+ links dnf to it; dnf4 is ``dnf`` (a
    link to dnf-3 on Debian), or ``dnf4`` and ``dnf-3`` beside a dnf5 that owns ``dnf``."""
    if flavour == DNF5:
        return ("dnf5", "dnf")
    if flavour == DNF4:
        return ("dnf", "dnf4", "dnf-3")
    return ("dnf", "dnf5", "dnf4", "dnf-3")


def find_dnf(flavour: str = "auto") -> tuple[str, str]:
    """The host's dnf for ``flavour`` (``auto``, ``dnf4``, ``dnf5``): (command, flavour)."""
    looked = []
    for name in candidates(flavour):
        if not which(name):
            continue
        found = host_flavour(name)
        if flavour in ("auto", found):
            return name, found
        looked.append(f"'{name}' is {found}")
    wanted = "dnf" if flavour == "auto" else flavour
    seen = f" ({', '.join(looked)})" if looked else ""
    fix = "apt-get install dnf5 (or dnf)" if flavour != DNF4 else "apt-get install dnf"
    raise PreflightError(
        f"no {wanted} on this host: none of {', '.join(candidates(flavour))} is{seen};"
        f" install it (Debian: {fix}; Fedora: dnf install {'dnf5' if flavour == DNF5 else 'dnf'})"
    )


def common_argv(plan: Plan, root: str, *, justdb: bool = False) -> list[str]:
    """Options shared by every transaction: where to install and what to read.

    ``justdb`` records the transaction in the rpmdb without unpacking files: a resolution
    whose result is measured, not installed."""
    flavour = plan.dnf_flavour
    tsflags = [] if plan.docs else ["nodocs"]
    tsflags += ["justdb"] if justdb else []
    argv = [
        plan.dnf_command,
        "-y",
        f"--installroot={root}",
        f"--releasever={plan.target.releasever}",
        f"--config={plan.dnf_conf}",
        f"--setopt=reposdir={','.join(plan.reposdirs)}",
        f"--setopt=install_weak_deps={plan.weak_deps}",
        f"--setopt=tsflags={','.join(tsflags)}",
        f"--setopt=keepcache={bool(plan.cachedir)}",
        "--noplugins" if flavour == DNF4 else "--no-plugins",
    ]
    if flavour == DNF5:
        # dnf5 otherwise reads vars (and config) from inside the empty installroot
        argv.append(f"--setopt=varsdir={','.join(plan.varsdirs)}")
    return argv + cache_argv(plan)


def cache_argv(plan: Plan) -> list[str]:
    """A shared-cache build reads the metadata snapshot this run made and never refreshes it.

    dnf4 gets no cachedir option: it would still write expired_repos.json under the installroot
    (dnf 4.14), so <root>/var/cache/dnf is a link to the build's cachedir instead (cache.py).
    dnf5 takes cachedir as given (as root it uses system_cachedir, so both are set).
    """
    if not plan.cachedir:
        return []
    argv = ["--setopt=metadata_expire=-1"]
    if plan.dnf_flavour == DNF5:
        argv += [f"--setopt=cachedir={plan.cachedir}", f"--setopt=system_cachedir={plan.cachedir}"]
    return argv


def makecache_argv(plan: Plan, root: str) -> list[str]:
    """Fetch every repository's metadata into ``plan.cachedir`` (a fleet run's shared snapshot),
    checking each repository for a newer revision whatever the age of what is there."""
    argv = [arg for arg in common_argv(plan, root) if not arg.startswith("--setopt=metadata_exp")]
    return [*argv, "--setopt=metadata_expire=0", "makecache"]


def install_argv(
    plan: Plan,
    root: str,
    packages: Sequence[str],
    exclude: Sequence[str] = (),
    *,
    justdb: bool = False,
) -> list[str]:
    """``exclude`` hides large providers so the solver picks the small alternative."""
    hide = [f"--setopt=excludepkgs={','.join(exclude)}"] if exclude else []
    base = common_argv(plan, root, justdb=justdb)
    return [*base, *hide, "install", *check_packages(packages)]


def remove_argv(plan: Plan, root: str, packages: Sequence[str]) -> list[str]:
    return [*common_argv(plan, root), "remove", *check_packages(packages)]


_NO_MATCH = (
    re.compile(r"No match for argument: (\S+)"),
    re.compile(r"No match for argument:\s*(\S+)"),
    re.compile(r"Unable to find a match: (.+)"),
    re.compile(r"No package (\S+) available"),
)

# dnf4's signature messages (dnf/base.py, dnf/cli/commands/__init__.py) and dnf5's one line
# ('OpenPGP check for package "n-v-r.a" (path) from repo "id" has failed: <reason>').
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
_DNF5_CHECK = re.compile(
    r'OpenPGP check for package "([^"]+)" (?:\(.*?\) )?from repo "([^"]+)" has failed: ([^\n]+)'
)

# dnf 5.4's reasons (libdnf5 rpm_signature.cpp), said the way dnf4's cases are
_DNF5_REASONS = {
    "The package is not signed": (
        "package {package} is not signed and its repository has gpgcheck=1"
    ),
    "Import of the key didn't help, wrong key": (
        "package {package} is not signed by a key that repository '{repo}' trusts"
    ),
    "The repository does not have any OpenPGP keys configured": (
        "repository '{repo}' has gpgcheck=1 but no gpgkey=;"
        " add the URL of its signing key to the .repo file"
    ),
}


def explain_signature(text: str) -> str | None:
    """The package and the key problem behind a failed signature check, or None."""
    if unsigned := sorted(set(_UNSIGNED.findall(text))):
        return f"package {', '.join(unsigned)} is not signed and its repository has gpgcheck=1"
    if wrong := _WRONG_KEYS.search(text):
        repo, package, keys = wrong.groups()
        return (
            f"package {package} is not signed by a key that repository {repo!r} trusts"
            f" (gpgkey={keys.strip()})"
        )
    if nokey := _NO_KEY.findall(text):
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
    if dnf5 := _DNF5_CHECK.search(text):
        package, repo, reason = dnf5.groups()
        for known, cause in _DNF5_REASONS.items():
            if reason.startswith(known):
                return cause.format(package=package, repo=repo)
        return f"signature check of package {package} from repository {repo!r} failed: {reason}"
    if repo_id := _NO_GPGKEY.search(text):
        return (
            f"repository {repo_id.group(1)!r} has gpgcheck=1 but no gpgkey=;"
            " add the URL of its signing key to the .repo file"
        )
    if failed := _KEY_IMPORT.search(text):
        return f"importing a repository key into the image's rpmdb failed (rpm code {failed[1]})"
    if unreadable := _UNREADABLE.search(text):
        return f"package {unreadable[1]} cannot be read to check its signature"
    return None


def explain_failure(stdout: str, stderr: str) -> str:
    """Turn dnf's output into the one cause a user needs to read."""
    text = f"{stdout}\n{stderr}"
    missing = sorted({m for rx in _NO_MATCH for m in rx.findall(text)})
    if missing:
        return f"package not found in the enabled repositories: {', '.join(missing)}"
    problem = re.search(
        r"^\s*(?:Problem|- ).*?(nothing provides .+|conflicts with .+)$", text, re.M
    )
    if problem:
        return f"dependency problem: {problem.group(1).strip()}"
    signature = explain_signature(text)
    if signature:
        return signature
    scriptlet = re.search(r"Error in (\S+) scriptlet in rpm package (\S+)", text)
    if scriptlet:
        return f"{scriptlet.group(1)} scriptlet of package {scriptlet.group(2)} failed"
    return "dnf failed"


def run_transaction(argv: Sequence[str], env: dict[str, str]) -> str:
    try:
        return run(argv, env=env).stdout
    except CommandError as error:
        cause = explain_failure(error.stdout, error.stderr)
        raise CommandError(
            error.argv, error.returncode, error.stderr, hint=cause, stdout=error.stdout
        ) from None
