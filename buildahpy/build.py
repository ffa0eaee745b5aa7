"""The orchestrator: one recipe in, one tagged image out, nothing left behind on failure.

Reads top to bottom as the pipeline: plan -> working container -> mount -> the recipe (dnf
transactions and rootfs edits) -> rpmdb and scrub -> config -> commit -> tag. Every acquire is
followed by its undo on the ExitStack, so an error or a signal at any step unmounts and removes
the working container, and the tag only moves once a complete image exists.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import attrs

from . import accounts, buildah, dnf, scrub
from .distro import HostRelease
from .errors import BuildahpyError, BuildError
from .image import Image
from .log import get_logger, step
from .plan import Options, Plan, dnf_conf, make_plan, rpm_macros
from .recipe import Recipe, where_in
from .rootfs import RootFS
from .tools import base_env, run


@attrs.frozen
class BuildResult:
    recipe: str
    tag: str
    image_id: str
    size: int
    packages: tuple[str, ...]
    seconds: float


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


def build(recipe: Recipe, options: Options, *, host: HostRelease, flavour: str) -> BuildResult:
    started = time.monotonic()
    with ExitStack() as stack, step("build", recipe=recipe.name, tag=recipe.tag):
        ctx = prepare_workdir(stack, recipe, options, host, flavour)
        create_container(ctx)
        mount_rootfs(ctx)
        run_recipe(ctx)
        finish_rpmdb(ctx)
        scrub_leftovers(ctx)
        configure_image(ctx)
        commit_image(ctx)
        tag_image(ctx)
        size = buildah.image_size(ctx.image_id)
    return BuildResult(
        recipe.name,
        recipe.tag,
        ctx.image_id,
        size,
        ctx.packages,
        round(time.monotonic() - started, 1),
    )


def prepare_workdir(
    stack: ExitStack, recipe: Recipe, options: Options, host: HostRelease, flavour: str
) -> Context:
    """A private host directory: dnf.conf, the chosen .repo files, HOME with our rpm macros."""
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="buildahpy-")))
    plan = make_plan(recipe, options, host=host, dnf_flavour=flavour, workdir=str(workdir))
    (workdir / "dnf.conf").write_text(dnf_conf(plan))
    if options.repo_files:
        (workdir / "repos.d").mkdir()
        for index, source in enumerate(options.repo_files):
            (workdir / "repos.d" / f"{index:02d}-{source.name}").write_bytes(source.read_bytes())
    home = Path(plan.home)
    home.mkdir()
    (home / ".rpmmacros").write_text(rpm_macros(plan))
    env = base_env({"HOME": plan.home})
    env.pop("XDG_CONFIG_HOME", None)  # rpm >= 4.19 also reads $XDG_CONFIG_HOME/rpm/macros
    return Context(recipe=recipe, plan=plan, stack=stack, env=env)


def create_container(ctx: Context) -> None:
    with step("create container"):
        ctx.container = f"{ctx.plan.container_prefix}-{secrets.token_hex(3)}"
        buildah.create(ctx.container)
        ctx.stack.callback(buildah.remove, ctx.container)


def mount_rootfs(ctx: Context) -> None:
    mountpoint = buildah.mount(ctx.container)
    ctx.stack.callback(buildah.umount, ctx.container)
    ctx.root = RootFS(Path(mountpoint))
    ctx.stack.callback(ctx.root.close)
    get_logger().debug("mounted", container=ctx.container, mountpoint=mountpoint)


def install_packages(ctx: Context, packages: list[str]) -> None:
    with step("dnf install", packages=" ".join(packages)):
        argv = dnf.install_argv(ctx.plan, str(ctx.rootfs.path), packages)
        dnf.run_transaction(argv, ctx.env)


def remove_packages(ctx: Context, packages: list[str]) -> None:
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


def finish_rpmdb(ctx: Context) -> None:
    ctx.packages = query_packages(ctx)
    scrub.tidy_rpmdb(ctx.rootfs, ctx.plan.rpmdb_path)
    scrub.link_rpmdb(ctx.rootfs, ctx.plan.rpmdb_path)


def query_packages(ctx: Context) -> tuple[str, ...]:
    if not ctx.rootfs.exists(ctx.plan.rpmdb_path):
        return ()
    out = run(
        [
            "rpm",
            f"--root={ctx.rootfs.path}",
            f"--dbpath={ctx.plan.rpmdb_path}",
            "-qa",
            "--qf",
            "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n",
        ],
        env=ctx.env,
        hint="cannot read the image's rpmdb",
    ).stdout
    return tuple(sorted(line for line in out.splitlines() if line))


def scrub_leftovers(ctx: Context) -> None:
    names = [nevra.rsplit("-", 2)[0] for nevra in ctx.packages]
    removed = scrub.remove_leftovers(ctx.rootfs, names)
    get_logger().debug("scrubbed", paths=removed)


def configure_image(ctx: Context) -> None:
    assert ctx.image is not None
    buildah.configure(ctx.container, ctx.image.config_value)


def commit_image(ctx: Context) -> None:
    with step("commit"):
        iidfile = Path(ctx.plan.workdir) / "iid"
        ctx.image_id = buildah.commit(ctx.container, str(iidfile))
        ctx.stack.callback(drop_untagged, ctx)


def drop_untagged(ctx: Context) -> None:
    """A committed image that never got its tag (error or signal in between) is removed."""
    if not ctx.tagged:
        buildah.remove_image(ctx.image_id)


def tag_image(ctx: Context) -> None:
    """Move the tag to the new, complete image. As with podman build, the previous image stays,
    untagged, until the user prunes it (``buildah rmi --prune``)."""
    buildah.tag(ctx.image_id, ctx.plan.tag)
    ctx.tagged = True
