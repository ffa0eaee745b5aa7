"""The orchestrator: one recipe in, one tagged image out, nothing left behind on failure.

Reads top to bottom as the pipeline: plan -> working container -> mount -> the recipe (dnf
transactions and rootfs edits) -> rpmdb and scrub -> config -> commit -> tag. Every acquire is
followed by its undo on the ExitStack, so an error or a signal at any step unmounts and removes
the working container, and the tag only moves once a complete image exists.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from contextlib import ExitStack
from pathlib import Path

import attrs

from buildahpy.api.image import Image
from buildahpy.api.recipe import Recipe, failure_in
from buildahpy.build import bases, locked, nospace, provenance, reproducible, scrub, sizes, sysusers
from buildahpy.build import packages as packages_mod
from buildahpy.build.budget import check_budget
from buildahpy.build.checks import check_image
from buildahpy.build.context import NO_EXTRAS, BuildResult, Context, Extras, Setup
from buildahpy.build.engine import LiveEngine, check_host_paths
from buildahpy.build.release import add_release_package
from buildahpy.build.sbom_image import write_sbom_in_image, write_sboms
from buildahpy.errors import BuildahpyError, BuildError, CommandError
from buildahpy.host import buildah, cache, dnf, rpmdb, space
from buildahpy.host import workdir as workdir_mod
from buildahpy.host.rootfs import RootFS
from buildahpy.log import get_logger, plural, recipe_context, step
from buildahpy.plan import arches, contents, minimize, timestamp
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.labels import (
    LABEL_BASE_PACKAGES,
    LABEL_CREATED,
    LABEL_INPUTS,
    LABEL_PACKAGES,
    LABEL_REQUESTED,
)
from buildahpy.plan.packages import RELEASE_FILES
from buildahpy.plan.plan import Options, Plan, make_plan
from buildahpy.privilege import gc, images
from buildahpy.unwind import UnwindStack


def build(
    recipe: Recipe,
    options: Options,
    *,
    host: HostRelease,
    flavour: str,
    extras: Extras = NO_EXTRAS,
) -> BuildResult:
    started = time.monotonic()
    with (
        recipe_context(recipe.name),
        UnwindStack() as stack,
        nospace.explaining(extras.cache.root if extras.cache else None),
        step("build", recipe=recipe.name, tag=recipe.tag),
    ):
        setup = prepare_workdir(stack, recipe, options, host, flavour, extras)
        setup = locked.fetch_locked(setup)
        claim_name(setup)
        create_container(setup)
        root = mount_rootfs(setup)
        check_base(setup, root)
        ctx = record_base(setup, root)
        attach_cache(ctx)
        run_recipe(ctx)
        add_release_package(ctx)
        harvest_cache(ctx)
        check_host_paths(ctx.plan, ctx.rootfs, dnf=False)
        prune_packages(ctx)
        decide_timestamp(ctx)
        finish_rpmdb(ctx)
        scrub_leftovers(ctx)
        measure_sizes(ctx)
        record_contents(ctx)
        check_requested(ctx)
        check_image(ctx)
        write_sbom_in_image(ctx)
        normalise_rootfs(ctx)
        configure_image(ctx)
        commit_image(ctx)
        size = measure_image(ctx)
        check_budget(ctx, size)  # the committed image's size, before the tag moves
        write_sboms(ctx)
        tag_image(ctx)
        report_sizes(ctx, size)
    return BuildResult(
        recipe.name,
        ctx.plan.tag,
        ctx.image_id,
        size,
        ctx.packages,
        round(time.monotonic() - started, 1),
        ctx.report,
        ctx.contents,
    )


def report_sizes(ctx: Context, size: int) -> None:
    """The size report, with the image's one size (the table's): after the tag, as news."""
    if ctx.report is None:
        return
    ctx.report = attrs.evolve(ctx.report, image_bytes=size)
    text = "\n".join(ctx.report.lines())
    get_logger().info("size report", **ctx.report.fields(), _text=text)


def prepare_workdir(
    stack: ExitStack,
    recipe: Recipe,
    options: Options,
    host: HostRelease,
    flavour: str,
    extras: Extras = NO_EXTRAS,
) -> Setup:
    """Decide everything before anything exists: the plan, the working container's name (the
    plan's prefix and a random part) and the build's private dnf cachedir; write dnf.conf, the
    chosen .repo files and HOME with our rpm macros into a private host directory."""
    workdir = workdir_mod.make(stack)
    plan = make_plan(
        recipe,
        options,
        host=host,
        dnf_flavour=flavour,
        workdir=str(workdir),
        base_image=extras.base_image,
    )
    container = f"{plan.container_prefix}-{secrets.token_hex(3)}"
    if extras.cache is not None:
        plan = attrs.evolve(plan, cachedir=str(cache.build_cache_path(extras.cache, container)))
    env = workdir_mod.fill(plan, sysusers.helper_command())
    # rpm >= 4.18 records it as INSTALLTIME/INSTALLTID instead of the clock (checked on 4.18)
    env[timestamp.ENV] = str(timestamp.install_epoch(timestamp.from_environ(os.environ)))
    return Setup(recipe, options, plan, extras, env, stack, container)


def claim_name(setup: Setup) -> None:
    """Lock the working container's name while this build lives, so that a later run can tell
    the container of a killed build from one in use (gc.py)."""
    setup.stack.enter_context(gc.claim(setup.container))


def create_container(setup: Setup) -> None:
    with step("create container"):
        # undone last: a commit that failed half way on a full disk leaves an image with no
        # name and no manifest (privilege/images.py), removable once the container's layer
        # has given the space back
        setup.stack.enter_context(images.removing_half_written())
        buildah.create(setup.container, setup.plan.base_image, platform_of(setup.plan))
        setup.stack.callback(buildah.remove, setup.container)


def mount_rootfs(setup: Setup) -> RootFS:
    mountpoint = buildah.mount(setup.container)
    setup.stack.callback(unmount_rootfs, setup.container, Path(mountpoint))
    root = RootFS(Path(mountpoint))
    setup.stack.callback(root.close)
    get_logger().debug("mounted", container=setup.container, mountpoint=mountpoint)
    return root


def unmount_rootfs(container: str, mountpoint: Path) -> None:
    """The last use of the rootfs. On a full disk buildah can neither save the container's
    state (``buildah umount`` fails) nor remove it (buildah 1.43's ``rm`` makes a directory
    first): the rootfs, which goes with the container anyway, is emptied first to give its
    space back. A failed unmount is left to ``buildah rm``, the next undo, which unmounts."""
    free = space.free_bytes(str(mountpoint))
    if free is not None and free < _EMPTY_BELOW:
        empty_rootfs(mountpoint)
    try:
        buildah.umount(container)
    except CommandError as error:
        if not space.NO_SPACE.search(error.stderr):
            raise
        get_logger().debug("unmount left to buildah rm", container=container, error=str(error))
        empty_rootfs(mountpoint)


_EMPTY_BELOW = 1 << 20  # free bytes under which a finished build's rootfs is emptied


def empty_rootfs(mountpoint: Path) -> None:
    with contextlib.suppress(OSError), RootFS(mountpoint) as root:
        for entry in root.listdir("/"):
            with contextlib.suppress(OSError):
                root.remove(entry)
    get_logger().debug("emptied the rootfs of a full disk", mountpoint=str(mountpoint))


def check_base(setup: Setup, root: RootFS) -> None:
    """dnf installs only what the base lacks because it reads the base's rpmdb: where we look."""
    plan = setup.plan
    if plan.base_image != "scratch":
        bases.check_rpmdb(root, plan.rpmdb_path, setup.recipe.base or plan.base_image)


def record_base(setup: Setup, root: RootFS) -> Context:
    """The base's packages, read as soon as it is mounted: pruning keeps them, whatever the
    recipe does (one that never installs, or starts with remove(), keeps the rest of its base).
    From here on the build's run state exists, with the recipe's ``image`` on a live engine."""
    plan, names = setup.plan, tuple[str, ...]()
    if plan.base_image != "scratch" and root.exists(plan.rpmdb_path):
        check_host_paths(plan, root, dnf=False)
        names = tuple(packages_mod.installed_names(plan, str(root.path), setup.env, True))
        get_logger().debug("base packages", count=len(names))
    ctx = Context(setup, root, names)
    ctx.engine = LiveEngine(ctx)
    ctx.image = Image(ctx.engine, setup.recipe.file.parent)
    return ctx


def attach_cache(ctx: Context) -> None:
    """Fill the build's private cachedir from the shared cache (see cache.py)."""
    snapshot = ctx.extras.cache
    if snapshot is None:
        return
    work = cache.open_build_cache(snapshot, ctx.container)
    ctx.stack.callback(cache.close_build_cache, work)
    dnf.of(ctx.plan).attach_cache(ctx.rootfs, work)


def harvest_cache(ctx: Context) -> None:
    if ctx.extras.cache is not None and ctx.plan.cachedir:
        cache.harvest(ctx.extras.cache, Path(ctx.plan.cachedir))


def run_recipe(ctx: Context) -> None:
    """Call the recipe function; an error it causes names the recipe's file and line."""
    with step("recipe"):
        try:
            ctx.recipe.func(ctx.image)
            ctx.engine.flush()
        except BuildahpyError as exc:
            exc.args = (failure_in(exc, ctx.recipe.file),)
            raise
        except Exception as exc:
            raise BuildError(failure_in(exc, ctx.recipe.file)) from exc


def prune_packages(ctx: Context) -> None:
    if not ctx.plan.minimize.prune or not ctx.rootfs.exists(ctx.plan.rpmdb_path):
        return
    with step("prune", show=True) as note:
        read_rpmdb(ctx)
        ctx.pruned = packages_mod.prune(
            ctx.plan, ctx.rootfs, ctx.env, ctx.rpmdb, ctx.satisfied, ctx.base_packages, ctx.touched
        )
        # erase only takes packages away: what is left, and what satisfies each spec, is what
        # was read before it, without the erased (no second read of the rpmdb)
        gone = {p.name for p in ctx.pruned}
        ctx.rpmdb = {name: p for name, p in ctx.rpmdb.items() if name not in gone}
        ctx.satisfied = {
            spec: [n for n in names if n not in gone] for spec, names in ctx.satisfied.items()
        }
        names = " ".join(p.name for p in ctx.pruned)
        note.show = bool(ctx.pruned)
        note.detail = f"{plural(len(ctx.pruned), 'package')} removed" + (
            f" ({names})" if names else ""
        )


def read_rpmdb(ctx: Context) -> None:
    """The packages, and which satisfy each spec the recipe installed, read once after the
    recipe (pruning then takes its packages out of both); before the rpmdb is tidied: a query
    after that would leave its -shm file in the image."""
    if ctx.rpmdb_read or not ctx.rootfs.exists(ctx.plan.rpmdb_path):
        return
    root, dbpath = str(ctx.rootfs.path), ctx.plan.rpmdb_path
    ctx.rpmdb = rpmdb.query(root, dbpath, ctx.env)
    ctx.satisfied = rpmdb.satisfying(root, dbpath, ctx.requested, ctx.env, set(ctx.rpmdb))
    ctx.rpmdb_read = True


def finish_rpmdb(ctx: Context) -> None:
    """The final package list; the rpmdb tidied and linked where old tools look."""
    read_rpmdb(ctx)
    ctx.packages = tuple(sorted(p.nevra for p in ctx.rpmdb.values()))
    scrub.tidy_rpmdb(ctx.rootfs, ctx.plan.rpmdb_path)
    scrub.link_rpmdb(ctx.rootfs, ctx.plan.rpmdb_path)


def decide_timestamp(ctx: Context) -> None:
    """The image's one time (plan/timestamp.py), known once the packages are final; read
    before the rpmdb is tidied, as finish_rpmdb's queries are."""
    read_rpmdb(ctx)
    found = [p.header.buildtime for p in ctx.rpmdb.values() if p.header.buildtime]
    ctx.timestamp = timestamp.decide(timestamp.from_environ(os.environ), found)
    get_logger().debug("timestamp", epoch=ctx.timestamp.epoch, source=ctx.timestamp.source)


def normalise_rootfs(ctx: Context) -> None:
    """Last edit of the rootfs: nothing of the build's clock or randomness stays in it."""
    assert ctx.timestamp is not None
    get_logger().debug("normalised", **reproducible.normalise(ctx.rootfs, ctx.timestamp.epoch))


def check_requested(ctx: Context) -> None:
    """Every spec the recipe installed is still satisfied by the finished rpmdb."""
    packages_mod.require_satisfied(ctx.requested, ctx.satisfied)


def measure_sizes(ctx: Context) -> None:
    """What is in the image and what minimising saved (see sizes.py); --explain adds why."""
    table = ctx.plan.alternatives
    named = set(minimize.resolve_roots(ctx.rpmdb, ctx.satisfied))
    swapped = minimize.swaps(table, ctx.hidden, set(ctx.rpmdb) - named)
    title = f"{ctx.recipe.tag} ({ctx.plan.arch})" if ctx.plan.arch else ctx.plan.tag
    report = sizes.make_report(title, ctx.rpmdb, ctx.pruned, swapped)
    if ctx.options.explain and ctx.requested:
        with step("explain", show=True):
            report = explain(ctx, report)
    ctx.report = report


def record_contents(ctx: Context) -> None:
    """Every package with its bytes and the chain that brought it in, from the roots pruning
    keeps (plan/contents.py): what the fleet's reports show for this image."""
    roots = contents.roots_with_reasons(
        minimize.resolve_roots(ctx.rpmdb, ctx.satisfied),
        ctx.base_packages,
        packages_mod.owners(ctx.rpmdb, ctx.touched),
        packages_mod.owners(ctx.rpmdb, RELEASE_FILES),
    )
    ctx.contents = contents.contents(ctx.rpmdb, roots, weak=ctx.plan.weak_deps)


def explain(ctx: Context, report: sizes.SizeReport) -> sizes.SizeReport:
    named, plan = ctx.requested, ctx.plan
    alternatives = plan.minimize.alternatives

    def resolved(weak: bool, alternatives: bool) -> int:
        return packages_mod.resolution_bytes(
            plan, ctx.env, named, weak=weak, alternatives=alternatives
        )

    actual = resolved(plan.weak_deps, alternatives)
    requested = minimize.resolve_roots(ctx.rpmdb, ctx.satisfied)
    reasons = minimize.root_reasons(requested, ctx.base_packages)
    reached = minimize.runtime_closure(
        ctx.rpmdb, [*requested, *ctx.base_packages], weak=plan.weak_deps
    )
    return attrs.evolve(
        report,
        weak_saved=0 if plan.weak_deps else resolved(True, alternatives) - actual,
        alternatives_saved=resolved(plan.weak_deps, False) - actual if alternatives else 0,
        why=tuple((name, minimize.why(reached, name, reasons)) for name in sorted(ctx.rpmdb)),
    )


def scrub_leftovers(ctx: Context) -> None:
    names = [nevra.rsplit("-", 2)[0] for nevra in ctx.packages]
    removed = scrub.remove_leftovers(ctx.rootfs, names)
    get_logger().debug("scrubbed", paths=removed)


def configure_image(ctx: Context) -> None:
    # Always set, so an image never carries its base's values: what a fleet run compares.
    assert ctx.timestamp is not None
    labels = {LABEL_INPUTS: ctx.extras.inputs, LABEL_PACKAGES: " ".join(ctx.packages)}
    labels[LABEL_REQUESTED] = " ".join(minimize.resolve_roots(ctx.rpmdb, ctx.satisfied))
    labels[LABEL_BASE_PACKAGES] = " ".join(n for n in ctx.base_packages if n in ctx.rpmdb)
    labels |= provenance.oci_labels(ctx, dict(ctx.image.config_value.labels))
    labels[LABEL_CREATED] = ctx.timestamp.rfc3339
    config = ctx.image.config_value.merge(labels=labels)
    buildah.configure(ctx.container, config, provenance.created_by(ctx), platform_of(ctx.plan))


def platform_of(plan: Plan) -> tuple[str, str] | None:
    """The OCI architecture and variant of another architecture's build; None: the host's."""
    return arches.oci_platform(plan.arch) if plan.arch else None


def commit_image(ctx: Context) -> None:
    """Commit under a name only this build uses; the undo, registered before buildah starts,
    drops that name: the image goes with it unless the tag was added (a signal can stop buildah
    after it stored the image but before it wrote the iidfile: the name still finds it)."""
    with step("commit", show=True):
        iidfile = Path(ctx.plan.workdir) / "iid"
        pending = gc.pending_name(ctx.container)
        ctx.stack.callback(release_pending, ctx, pending)
        assert ctx.timestamp is not None
        ctx.image_id = buildah.commit(
            ctx.container,
            str(iidfile),
            pending,
            timestamp=ctx.timestamp.epoch,
            docker=ctx.image.config_value.needs_docker_format,
        )


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


def measure_image(ctx: Context) -> int:
    """The committed image's size, taken before the tag moves: a failure here leaves the
    previous image under the tag, as every failure before it does."""
    return buildah.image_size(ctx.image_id)


def tag_image(ctx: Context) -> None:
    """Move the tag to the new, complete image. As with podman build, the previous image stays,
    untagged, until the user prunes it (``buildah rmi --prune``)."""
    buildah.tag(ctx.image_id, ctx.plan.tag)
    ctx.tagged = True
