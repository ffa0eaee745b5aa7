"""The plan: everything a build will do, decided before anything is created.

Pure: from a Recipe, the command-line options and facts about the host, it derives the target
release, repositories, dnf flavour and options, the rpmdb path and the rpm macros, and a digest
that names the build. Nothing here starts a process or writes a file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import attrs

from buildahpy.api.options import Minimize
from buildahpy.api.recipe import Recipe
from buildahpy.errors import UsageError
from buildahpy.plan.distro import HostRelease, Target, resolve_target
from buildahpy.plan.minimize import Alternative, preference_table
from buildahpy.plan.repos import (
    HOST_VARSDIRS,
    RepoChoice,
    RepoFile,
    choose,
    host_reposdirs,
    repo_ids,
)


@attrs.frozen
class Options:
    """What the command line asked, for every recipe of the run."""

    repo_files: tuple[Path, ...] = ()
    repos: str = "auto"  # --repos auto|preset|host
    mirror: str = ""  # --mirror URL: the preset reads this mirror
    gpg_keys: tuple[Path, ...] = ()  # --gpg-key FILE: the preset's keys instead of the host's
    distro: str | None = None
    releasever: str | None = None
    dnf_command: str = "dnf"
    explain: bool = False
    sbom_dir: Path | None = None  # --sbom DIR: both SBOMs of every image of the run
    locked: bool = False  # --locked: install exactly each recipe's lock (build/locked.py)
    # --arch: every recipe's architectures instead of its own arches= (plan/arches.py). Out of
    # repr: what one image is made of is ``arch``, the one its build targets ("" the host's).
    arches: tuple[str, ...] = attrs.field(default=(), repr=False)
    arch: str = attrs.field(default="", repr=False)
    # A name to tag with instead of the recipe's (``{name}``: the recipe's name), for the second
    # build of --check-reproducible. Not part of repr, so not an input of the image (inputs.py).
    tag_as: str = attrs.field(default="", repr=False)
    # --dnf-timeout: how the packages are fetched, not what the image is made of (out of repr)
    dnf_timeout: int = attrs.field(default=0, repr=False)


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
    # the .repo files written into the private workdir/repos.d (--repo-file copies or a preset);
    # empty: dnf reads the host's reposdirs
    private_repos: tuple[RepoFile, ...] = ()
    repos_source: str = ""
    minimize: Minimize = attrs.Factory(Minimize)
    base_image: str = "scratch"  # what ``buildah from`` starts from: scratch, a tag or an image id
    cachedir: str = ""  # this build's dnf cachedir on the host (see cache.py); "" is dnf's own
    skip_checks: tuple[tuple[str, str], ...] = ()  # checks the recipe opts out of, with why
    alternatives: tuple[Alternative, ...] = ()  # the small alternatives, the recipe's included
    arch: str = ""  # the target architecture (dnf --forcearch, the image's config); "" the host's
    dnf_timeout: int = 0  # dnf's timeout (seconds below minrate before a retry); 0 dnf's own

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


def target_of(recipe: Recipe, options: Options, host: HostRelease) -> Target:
    """The distribution and release a recipe builds for: the command line's, else the recipe's,
    else the host's (a release nobody gives is a usage error)."""
    return resolve_target(
        cli_distro=options.distro,
        cli_releasever=options.releasever,
        recipe_distro=recipe.distro,
        recipe_releasever=recipe.releasever,
        host=host,
    )


def repos_of(recipe: Recipe, options: Options, host: HostRelease) -> RepoChoice:
    """The repositories a recipe's build reads (plan.repos.choose): what dnf, the inputs digest
    and the shared cache all see."""
    return choose(
        options.repo_files,
        lambda: target_of(recipe, options, host),
        host,
        mode=options.repos,
        mirror=options.mirror,
        gpg_keys=options.gpg_keys,
    )


def make_plan(
    recipe: Recipe,
    options: Options,
    *,
    host: HostRelease,
    dnf_flavour: str,
    workdir: str,
    base_image: str | None = None,
    cachedir: str = "",
) -> Plan:
    """``base_image`` pins the recipe's base (a tag) to the id the run resolved it to."""
    target = target_of(recipe, options, host)
    chosen = repos_of(recipe, options, host)
    reposdirs = (f"{workdir}/repos.d",) if chosen.private else host_reposdirs()
    if not chosen.files:
        raise UsageError("the host defines no dnf repositories; pass --repo-file PATH")
    ids = repo_ids(chosen.files)
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
            repr((recipe.release_package, recipe.sbom_in_image, recipe.version)),
            dnf_flavour,
            *ids,
            _source_digest(recipe.file),
            # only when asked for, so a host-arch build keeps the names it always had
            *([f"arch={options.arch}"] if options.arch else []),
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
        private_repos=chosen.files if chosen.private else (),
        repos_source=chosen.source,
        digest=hashlib.sha256(digest_input.encode()).hexdigest(),
        minimize=recipe.minimize,
        base_image=base_image or recipe.base or "scratch",
        skip_checks=recipe.skip_checks,
        cachedir=cachedir,
        alternatives=preference_table(dict(recipe.minimize.prefer)),
        arch=options.arch,
        dnf_timeout=options.dnf_timeout,
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
            # dnf4 and dnf5 both: a transfer below minrate (1000 B/s) for timeout seconds is
            # abandoned and retried (librepo's low-speed limit); their default 30 s per try
            *([f"timeout={plan.dnf_timeout}"] if plan.dnf_timeout else []),
            "",
        ]
    )
