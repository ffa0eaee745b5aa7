"""The orchestrator: one recipe in, one tagged image out, nothing left behind on failure.

Reads top to bottom as the pipeline: plan -> working container -> mount -> the recipe (dnf
transactions and rootfs edits) -> rpmdb and scrub -> config -> commit -> tag. Every acquire is
followed by its undo on the ExitStack, so an error or a signal at any step unmounts and removes
the working container, and the tag only moves once a complete image exists.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import attrs

from . import (
    accounts,
    bases,
    buildah,
    cache,
    dnf,
    gc,
    minimize,
    rpmdb,
    scrub,
    sizes,
    sysusers,
    userns,
)
from . import packages as packages_mod
from .distro import HostRelease
from .errors import BuildahpyError, BuildError, CommandError
from .image import Image
from .inputs import LABEL_INPUTS, LABEL_PACKAGES
from .log import get_logger, step
from .plan import Options, Plan, dnf_conf, make_plan, rpm_macros
from .recipe import Recipe, where_in
from .rootfs import RootFS
from .tools import base_env


@attrs.frozen
class BuildResult:
    recipe: str
    tag: str
    image_id: str
    size: int
    packages: tuple[str, ...]
    seconds: float
    report: sizes.SizeReport | None = None


@attrs.frozen
class Extras:
    """What the fleet decided for this build: the base image (pinned to an id), the inputs digest
    to record, and the shared cache's metadata snapshot (None: dnf's own cache in the image)."""

    base_image: str | None = None
    inputs: str = ""
    cache: cache.Snapshot | None = None


@attrs.define
class Context:
    """Run state of one build (the plan is what was asked; this is what exists)."""

    recipe: Recipe
    plan: Plan
    stack: ExitStack
    env: dict[str, str]
    container: str = ""
    root: RootFS | None = None
    image: Image | None = None
    pending: list[str] = attrs.Factory(list)
    packages: tuple[str, ...] = ()
    image_id: str = ""
    tagged: bool = False
    base_packages: list[str] | None = None
    hidden: list[str] = attrs.Factory(list)
    pruned: list[rpmdb.Package] = attrs.Factory(list)
    installed: dict[str, rpmdb.Package] = attrs.Factory(dict)
    report: sizes.SizeReport | None = None
    options: Options = attrs.Factory(Options)
    extras: Extras = attrs.Factory(Extras)

    @property
    def rootfs(self) -> RootFS:
        assert self.root is not None, "rootfs used before mount"
        return self.root


class LiveEngine:
    """Carries out the recipe's calls. Installs are batched until the rootfs is next touched."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def flush(self) -> None:
        if self.ctx.pending:
            packages, self.ctx.pending = self.ctx.pending, []
            install_packages(self.ctx, packages)
            add_declared_users(self.ctx)

    def install(self, packages: list[str]) -> None:
        self.ctx.pending += packages

    def remove(self, packages: list[str]) -> None:
        self.flush()
        remove_packages(self.ctx, packages)

    def _edit(self, what: str, path: str, action: object) -> None:
        self.flush()
        try:
            action()  # type: ignore[operator]
        except OSError as exc:
            raise BuildError(f"{what} {path} in the image: {exc.strerror or exc}") from None

    def write(self, path: str, data: bytes, mode: int) -> None:
        self._edit("cannot write", path, lambda: self.ctx.rootfs.write_bytes(path, data, mode))

    def copy(self, source: Path, dest: str, mode: int | None) -> None:
        self._edit("cannot copy to", dest, lambda: self.ctx.rootfs.copy_in(source, dest, mode))

    def mkdir(self, path: str, mode: int) -> None:
        self._edit("cannot create directory", path, lambda: self.ctx.rootfs.mkdir(path, mode))

    def symlink(self, target: str, link: str) -> None:
        self._edit("cannot create symlink", link, lambda: self.ctx.rootfs.symlink(target, link))

    def add_group(self, name: str, gid: int) -> None:
        self._edit("cannot add group", name, lambda: accounts.add_group(self.ctx.rootfs, name, gid))

    def add_user(self, name: str, uid: int, gid: int, home: str, shell: str) -> None:
        self._edit(
            "cannot add user",
            name,
            lambda: accounts.add_user(self.ctx.rootfs, name, uid, gid, home, shell),
        )

    def run(self, argv: list[str]) -> str:
        self.flush()
        return buildah.run_in(self.ctx.container, argv)

    def rootfs(self) -> Path:
        self.flush()
        return self.ctx.rootfs.path


def build(
    recipe: Recipe,
    options: Options,
    *,
    host: HostRelease,
    flavour: str,
    extras: Extras = Extras(),  # frozen: one shared default is safe
) -> BuildResult:
    started = time.monotonic()
    with ExitStack() as stack, step("build", recipe=recipe.name, tag=recipe.tag):
        ctx = prepare_workdir(stack, recipe, options, host, flavour, extras)
        claim_name(ctx)
        create_container(ctx)
        mount_rootfs(ctx)
        check_base(ctx)
        attach_cache(ctx)
        run_recipe(ctx)
        harvest_cache(ctx)
        check_host_paths(ctx, dnf=False)
        prune_packages(ctx)
        finish_rpmdb(ctx)
        scrub_leftovers(ctx)
        measure_sizes(ctx)
        configure_image(ctx)
        commit_image(ctx)
        tag_image(ctx)
        size = buildah.image_size(ctx.image_id)
    if ctx.report is not None:
        sys.stderr.write("\n".join(ctx.report.lines()) + "\n")
    return BuildResult(
        recipe.name,
        recipe.tag,
        ctx.image_id,
        size,
        ctx.packages,
        round(time.monotonic() - started, 1),
        ctx.report,
    )


def prepare_workdir(
    stack: ExitStack,
    recipe: Recipe,
    options: Options,
    host: HostRelease,
    flavour: str,
    extras: Extras = Extras(),  # frozen: one shared default is safe
) -> Context:
    """A private host directory: dnf.conf, the chosen .repo files, HOME with our rpm macros."""
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="buildahpy-")))
    plan = make_plan(
        recipe,
        options,
        host=host,
        dnf_flavour=flavour,
        workdir=str(workdir),
        base_image=extras.base_image,
    )
    (workdir / "dnf.conf").write_text(dnf_conf(plan))
    if options.repo_files:
        (workdir / "repos.d").mkdir()
        for index, source in enumerate(options.repo_files):
            (workdir / "repos.d" / f"{index:02d}-{source.name}").write_bytes(source.read_bytes())
    home = Path(plan.home)
    home.mkdir()
    macros = rpm_macros(
        plan, rootless=userns.in_user_namespace(), sysusers_helper=sysusers.helper_command()
    )
    (home / ".rpmmacros").write_text(macros)
    env = base_env({"HOME": plan.home})
    env.pop("XDG_CONFIG_HOME", None)  # rpm >= 4.19 also reads $XDG_CONFIG_HOME/rpm/macros
    return Context(recipe=recipe, plan=plan, stack=stack, env=env, options=options, extras=extras)


def claim_name(ctx: Context) -> None:
    """Name the working container and lock the name while this build lives, so that a later
    run can tell the container of a killed build from one in use (gc.py)."""
    ctx.container = f"{ctx.plan.container_prefix}-{secrets.token_hex(3)}"
    ctx.stack.enter_context(gc.claim(ctx.container))


def create_container(ctx: Context) -> None:
    with step("create container"):
        buildah.create(ctx.container, ctx.plan.base_image)
        ctx.stack.callback(buildah.remove, ctx.container)


def mount_rootfs(ctx: Context) -> None:
    mountpoint = buildah.mount(ctx.container)
    ctx.stack.callback(buildah.umount, ctx.container)
    ctx.root = RootFS(Path(mountpoint))
    ctx.stack.callback(ctx.root.close)
    get_logger().debug("mounted", container=ctx.container, mountpoint=mountpoint)


def check_base(ctx: Context) -> None:
    """dnf installs only what the base lacks because it reads the base's rpmdb: where we look."""
    if ctx.plan.base_image != "scratch":
        bases.check_rpmdb(ctx.rootfs, ctx.plan.rpmdb_path, ctx.recipe.base or ctx.plan.base_image)


def attach_cache(ctx: Context) -> None:
    """Give dnf a private cachedir on the host, filled from the shared cache (see cache.py)."""
    snapshot = ctx.extras.cache
    if snapshot is None:
        return
    work = cache.open_build_cache(snapshot, ctx.container)
    ctx.stack.callback(cache.close_build_cache, work)
    ctx.plan = attrs.evolve(ctx.plan, cachedir=str(work))
    if ctx.plan.dnf_flavour == dnf.DNF4:
        cache.link_into(ctx.rootfs, work)


def harvest_cache(ctx: Context) -> None:
    if ctx.extras.cache is not None and ctx.plan.cachedir:
        cache.harvest(ctx.extras.cache, Path(ctx.plan.cachedir))


def check_host_paths(ctx: Context, *, dnf: bool = True) -> None:
    """Our own edits are confined (rootfs.py); the host's dnf and rpm are not: they open their
    caches, logs and rpmdb under the mountpoint as host paths and follow links on the host. A
    link planted by a package's scriptlet or a base image would lead them out: stop first."""
    allowed = [ctx.plan.cachedir] if ctx.plan.cachedir else []  # cache.link_into's own link
    tool = "dnf" if dnf else "rpm"
    for path in scrub.host_tool_paths(ctx.plan.rpmdb_path, dnf=dnf):
        escape = ctx.rootfs.host_escape(path, allowed)
        if escape:
            raise BuildError(
                f"the image's {escape[0]} leads out of the image (to {escape[1]} on the host); "
                f"the host's {tool} would write through it, so it is not run"
            )


def install_packages(ctx: Context, packages: list[str]) -> None:
    check_host_paths(ctx)
    with step("dnf install", packages=" ".join(packages)):
        root = str(ctx.rootfs.path)
        has_db = ctx.rootfs.exists(ctx.plan.rpmdb_path)
        installed = packages_mod.installed_names(ctx.plan, root, ctx.env, has_db)
        if ctx.base_packages is None:
            ctx.base_packages = installed
        named = ctx.image.installed if ctx.image else packages
        hidden = packages_mod.install(ctx.plan, root, ctx.env, packages, named, installed)
        ctx.hidden += [name for name in hidden if name not in ctx.hidden]


def add_declared_users(ctx: Context) -> None:
    """Users and groups from the image's sysusers.d files: rpm >= 4.19 made them during the
    transaction (with buildahpy.sysusers), an older rpm ignores sysusers.d altogether."""
    added = sysusers.apply_declared(ctx.rootfs)
    if added:
        get_logger().debug("sysusers", added=" ".join(map(repr, added)))


def remove_packages(ctx: Context, packages: list[str]) -> None:
    check_host_paths(ctx)
    with step("dnf remove", packages=" ".join(packages)):
        argv = dnf.remove_argv(ctx.plan, str(ctx.rootfs.path), packages)
        dnf.run_transaction(argv, ctx.env)


def run_recipe(ctx: Context) -> None:
    """Call the recipe function; an error it causes names the recipe's file and line."""
    engine = LiveEngine(ctx)
    ctx.image = Image(engine)
    with step("recipe"):
        try:
            ctx.recipe.func(ctx.image)
            engine.flush()
        except BuildahpyError as exc:
            exc.args = (f"{where_in(exc, ctx.recipe.file)}: {exc}",)
            raise
        except Exception as exc:
            raise BuildError(
                f"{where_in(exc, ctx.recipe.file)}: {type(exc).__name__}: {exc}"
            ) from exc


def prune_packages(ctx: Context) -> None:
    if not ctx.plan.minimize.prune or not ctx.rootfs.exists(ctx.plan.rpmdb_path):
        return
    with step("prune"):
        named = ctx.image.installed if ctx.image else []
        ctx.pruned = packages_mod.prune(
            ctx.plan, ctx.rootfs, ctx.env, named, ctx.base_packages or []
        )


def finish_rpmdb(ctx: Context) -> None:
    if ctx.rootfs.exists(ctx.plan.rpmdb_path):
        ctx.installed = rpmdb.query(str(ctx.rootfs.path), ctx.plan.rpmdb_path, ctx.env)
    ctx.packages = tuple(sorted(p.nevra for p in ctx.installed.values()))
    scrub.tidy_rpmdb(ctx.rootfs, ctx.plan.rpmdb_path)
    scrub.link_rpmdb(ctx.rootfs, ctx.plan.rpmdb_path)


def measure_sizes(ctx: Context) -> None:
    """What is in the image and what minimising saved (see sizes.py); --explain adds why."""
    table = minimize.preference_table(dict(ctx.plan.minimize.prefer))
    named = set(ctx.image.installed if ctx.image else [])
    swapped = minimize.swaps(table, ctx.hidden, set(ctx.installed) - named)
    report = sizes.make_report(ctx.plan.tag, ctx.rootfs.path, ctx.installed, ctx.pruned, swapped)
    if ctx.options.explain and ctx.image and ctx.image.installed:
        with step("explain"):
            report = explain(ctx, report)
    ctx.report = report


def explain(ctx: Context, report: sizes.SizeReport) -> sizes.SizeReport:
    named, plan = ctx.image.installed if ctx.image else [], ctx.plan
    alternatives = plan.minimize.alternatives

    def resolved(weak: bool, alternatives: bool) -> int:
        return packages_mod.resolution_bytes(
            plan, ctx.env, named, weak=weak, alternatives=alternatives
        )

    actual = resolved(plan.weak_deps, alternatives)
    roots = minimize.resolve_roots(ctx.installed, named) + (ctx.base_packages or [])
    reached = minimize.runtime_closure(ctx.installed, roots, weak=plan.weak_deps)
    return attrs.evolve(
        report,
        weak_saved=0 if plan.weak_deps else resolved(True, alternatives) - actual,
        alternatives_saved=resolved(plan.weak_deps, False) - actual if alternatives else 0,
        why=tuple((name, minimize.why(reached, name)) for name in sorted(ctx.installed)),
    )


def scrub_leftovers(ctx: Context) -> None:
    names = [nevra.rsplit("-", 2)[0] for nevra in ctx.packages]
    removed = scrub.remove_leftovers(ctx.rootfs, names)
    get_logger().debug("scrubbed", paths=removed)


def configure_image(ctx: Context) -> None:
    assert ctx.image is not None
    # Always set, so an image never carries its base's values: what a fleet run compares.
    labels = {LABEL_INPUTS: ctx.extras.inputs, LABEL_PACKAGES: " ".join(ctx.packages)}
    buildah.configure(ctx.container, ctx.image.config_value.merge(labels=labels))


def commit_image(ctx: Context) -> None:
    """Commit under a name only this build uses; the undo, registered before buildah starts,
    drops that name: the image goes with it unless the tag was added (a signal can stop buildah
    after it stored the image but before it wrote the iidfile: the name still finds it)."""
    with step("commit"):
        iidfile = Path(ctx.plan.workdir) / "iid"
        pending = gc.pending_name(ctx.container)
        ctx.stack.callback(release_pending, ctx, pending)
        ctx.image_id = buildah.commit(ctx.container, str(iidfile), pending)


def release_pending(ctx: Context, pending: str) -> None:
    """Drop the build's own name. A tagged image only loses the name (it stays, untagged, even
    if another run has moved the tag meanwhile: this run's dependents may be built on it); an
    image that never got its tag is removed with it."""
    if ctx.tagged:
        buildah.untag(ctx.image_id, pending)
        return
    try:
        buildah.remove_image(pending)
    except CommandError:
        if buildah.image_id(pending) is not None:
            raise


def tag_image(ctx: Context) -> None:
    """Move the tag to the new, complete image. As with podman build, the previous image stays,
    untagged, until the user prunes it (``buildah rmi --prune``)."""
    buildah.tag(ctx.image_id, ctx.plan.tag)
    ctx.tagged = True
