"""The plan: everything a build will do, decided before anything is created.

Pure: from a Recipe, the command-line options and facts about the host, it derives the target
release, repositories, dnf flavour and options, the rpmdb path and the rpm macros, and a digest
that names the build. Nothing here starts a process or writes a file.
"""

from __future__ import annotations

import configparser
import hashlib
import platform
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

from buildahpy.api.options import Minimize
from buildahpy.api.recipe import Recipe
from buildahpy.errors import UsageError
from buildahpy.plan.distro import HostRelease, Target, resolve_target

HOST_REPOSDIRS = ("/etc/yum.repos.d", "/etc/yum/repos.d", "/etc/distro.repos.d")
# Given to dnf as varsdir (both flavours) and read by dnf_vars: the one list of vars dirs.
HOST_VARSDIRS = ("/etc/dnf/vars", "/etc/yum/vars")
_BASEARCH = {"i686": "i386", "i586": "i386", "armv7l": "armhfp", "armv7hl": "armhfp"}


@attrs.frozen
class Options:
    """What the command line asked, for every recipe of the run."""

    repo_files: tuple[Path, ...] = ()
    distro: str | None = None
    releasever: str | None = None
    dnf_command: str = "dnf"
    keep: bool = False
    explain: bool = False
    # A name to tag with instead of the recipe's (``{name}``: the recipe's name), for the second
    # build of --check-reproducible. Not part of repr, so not an input of the image (inputs.py).
    tag_as: str = attrs.field(default="", repr=False)


@attrs.frozen
class Plan:
    recipe_name: str
    tag: str
    target: Target
    weak_deps: bool
    docs: bool
    dnf_command: str
    dnf_flavour: str
    workdir: str
    reposdirs: tuple[str, ...]
    varsdirs: tuple[str, ...]
    repo_ids: tuple[str, ...]
    digest: str
    minimize: Minimize = attrs.Factory(Minimize)
    base_image: str = "scratch"  # what ``buildah from`` starts from: scratch, a tag or an image id
    cachedir: str = ""  # this build's dnf cachedir on the host (see cache.py); "" is dnf's own
    skip_checks: tuple[tuple[str, str], ...] = ()  # checks the recipe opts out of, with why

    @property
    def dnf_conf(self) -> str:
        return f"{self.workdir}/dnf.conf"

    @property
    def home(self) -> str:
        """A private HOME for dnf and rpm: its .rpmmacros is ours, the user's is never read."""
        return f"{self.workdir}/home"

    @property
    def rpmdb_path(self) -> str:
        return self.target.rpmdb_path

    @property
    def container_prefix(self) -> str:
        return f"buildahpy-{self.recipe_name.replace('_', '-').lower()}-{self.digest[:12]}"


def repo_ids(paths: tuple[Path, ...]) -> tuple[str, ...]:
    """The repository ids a set of .repo files defines; a broken file is a usage error."""
    ids: list[str] = []
    for path in paths:
        parser = configparser.RawConfigParser(strict=False)
        try:
            with path.open() as handle:
                parser.read_file(handle)
        except (OSError, configparser.Error) as exc:
            raise UsageError(f"--repo-file {path}: cannot read it as a .repo file: {exc}") from None
        sections = [s for s in parser.sections() if s != "main"]
        if not sections:
            raise UsageError(f"--repo-file {path}: defines no repository section")
        ids.extend(sections)
    return tuple(ids)


def host_repo_files(reposdirs: tuple[str, ...]) -> tuple[Path, ...]:
    return tuple(sorted(p for d in reposdirs for p in Path(d).glob("*.repo")))


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


def make_plan(
    recipe: Recipe,
    options: Options,
    *,
    host: HostRelease,
    dnf_flavour: str,
    workdir: str,
    base_image: str | None = None,
) -> Plan:
    """``base_image`` pins the recipe's base (a tag) to the id the run resolved it to."""
    target = resolve_target(
        cli_distro=options.distro,
        cli_releasever=options.releasever,
        recipe_distro=recipe.distro,
        recipe_releasever=recipe.releasever,
        host=host,
    )
    if options.repo_files:
        reposdirs: tuple[str, ...] = (f"{workdir}/repos.d",)
        files = options.repo_files
    else:
        reposdirs = tuple(d for d in HOST_REPOSDIRS if Path(d).is_dir())
        files = host_repo_files(reposdirs)
        if not files:
            raise UsageError("the host defines no dnf repositories; pass --repo-file PATH")
    ids = repo_ids(files)
    digest_input = "\n".join(
        [
            recipe.name,
            recipe.tag,
            target.family,
            target.releasever,
            str(recipe.weak_deps),
            str(recipe.docs),
            repr(recipe.minimize),
            repr(recipe.skip_checks),
            dnf_flavour,
            *ids,
            _source_digest(recipe.file),
        ]
    )
    return Plan(
        recipe_name=recipe.name,
        tag=options.tag_as.format(name=recipe.name.lower()) if options.tag_as else recipe.tag,
        target=target,
        weak_deps=recipe.weak_deps,
        docs=recipe.docs,
        dnf_command=options.dnf_command,
        dnf_flavour=dnf_flavour,
        workdir=workdir,
        reposdirs=reposdirs,
        varsdirs=HOST_VARSDIRS,
        repo_ids=ids,
        digest=hashlib.sha256(digest_input.encode()).hexdigest(),
        minimize=recipe.minimize,
        base_image=base_image or recipe.base or "scratch",
        skip_checks=recipe.skip_checks,
    )


def _source_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


# rpm plugins that need privileges a user namespace does not give (security.* xattrs of the
# initial namespace: SELinux labels, IMA and fs-verity signatures) or that talk to the host's
# daemons (audit, syslog, fapolicyd, logind, the system bus). rpm-plugins(8): a plugin whose
# %__transaction_NAME is %{nil} is not loaded.
ROOTLESS_OFF_PLUGINS = (
    "selinux",
    "ima",
    "fsverity",
    "fapolicyd",
    "audit",
    "syslog",
    "systemd_inhibit",
    "dbus_announce",
)


def rpm_macros(plan: Plan, *, rootless: bool = False, sysusers_helper: str = "") -> str:
    """The private ~/.rpmmacros dnf and rpm run with: rpmdb where the target's rpm keeps it.

    ``sysusers_helper``: what rpm >= 4.19 runs instead of the host's systemd-sysusers for the
    users and groups packages declare (see buildahpy.build.sysusers). ``rootless``: the transaction
    runs as the root of a user namespace, without the plugins that fail there.
    """
    lines = [
        f"%_dbpath {plan.rpmdb_path}",
        "%_dbpath_rebuild %{_dbpath}",
        # translations and locale data of other languages are never unpacked
        f"%_install_langs {plan.minimize.install_langs}",
    ]
    if sysusers_helper:
        lines.append(f"%__systemd_sysusers {sysusers_helper}")
    if rootless:
        lines += [f"%__transaction_{name} %{{nil}}" for name in ROOTLESS_OFF_PLUGINS]
    return "\n".join(lines) + "\n"


def dnf_conf(plan: Plan) -> str:
    return "\n".join(
        [
            "[main]",
            "gpgcheck=True",
            "installonly_limit=3",
            "clean_requirements_on_remove=True",
            "best=True",
            "skip_if_unavailable=False",
            f"install_weak_deps={plan.weak_deps}",
            "",
        ]
    )
