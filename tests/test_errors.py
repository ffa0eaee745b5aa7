"""Errors that name their cause: undo steps that fail while an error unwinds, errors of no
buildahpy type (one line naming the step, inline or forked), and recipe errors raised in a helper
module or by a batched install (the recipe's line)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import structlog
from plans import sample_plan

from buildahpy import __main__ as cli
from buildahpy import log
from buildahpy.api.recipe import Recipe, load_file
from buildahpy.build import engine
from buildahpy.build import pipeline as build_mod
from buildahpy.build.context import NO_EXTRAS, Context, Setup
from buildahpy.errors import BuildError, CommandError, RecipeError
from buildahpy.fleet.fleet import Entry, ForkExecutor, InlineExecutor, decide_ready, finish
from buildahpy.fleet.graph import Node
from buildahpy.fleet.jobs import Decision
from buildahpy.fleet.progress import LogProgress
from buildahpy.fleet.worker import Job, Outcome, run_job
from buildahpy.host.rootfs import RootFS
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.plan import Options
from buildahpy.unwind import UnwindStack, cleanup_failures

# -- undo steps while an error unwinds ---------------------------------------------------------


@pytest.fixture(autouse=True)
def logs() -> Iterator[Callable[..., None]]:
    """Configures logging onto the test's (captured) stderr, as the command line does, when the
    test calls it; undone after, so no other test writes to a capture that is closed."""
    yield lambda verbose=False: log.configure(verbose=verbose)
    structlog.reset_defaults()


def failing(message: str) -> None:
    raise CommandError(["buildah", "umount", "c"], 1, message, hint="cannot unmount")


def test_an_undo_that_fails_while_an_error_unwinds_does_not_replace_it() -> None:
    ran: list[str] = []

    @contextmanager
    def claim() -> Iterator[None]:
        try:
            yield
        finally:
            raise OSError(5, "lock file gone")

    with pytest.raises(BuildError) as caught, UnwindStack() as stack:
        stack.enter_context(claim())
        stack.callback(ran.append, "remove")
        stack.callback(failing, "busy")
        stack.push(lambda *details: ran.append("pushed"))
        raise BuildError("package not found in the enabled repositories: ngnix")
    assert str(caught.value) == "package not found in the enabled repositories: ngnix"
    assert ran == ["pushed", "remove"]  # every undo still ran, the last registered first
    assert cleanup_failures(caught.value) == (
        "cannot unmount: buildah umount c exited 1: busy",
        "claim: OSError: [Errno 5] lock file gone",
    )


def test_an_undo_that_fails_after_success_is_the_error_and_later_ones_note_on_it() -> None:
    """The check above can fail: the same undo, with nothing else failing, is raised."""
    with pytest.raises(CommandError) as caught, UnwindStack() as stack:
        stack.callback(failing, "second")
        stack.callback(failing, "first")
    assert "exited 1: first" in str(caught.value)
    assert cleanup_failures(caught.value) == ("cannot unmount: buildah umount c exited 1: second",)


def test_a_plain_exit_stack_would_have_hidden_the_error() -> None:
    """Why UnwindStack exists: ExitStack raises the undo's error instead."""
    with pytest.raises(CommandError), ExitStack() as stack:
        stack.callback(failing, "busy")
        raise BuildError("the real cause")


def test_the_error_line_comes_first_then_one_warning_per_failed_undo(
    capsys: pytest.CaptureFixture[str], logs: Callable[..., None]
) -> None:
    logs()
    entry = Entry(node_for("web"), status="failed", error="the real cause")
    entry.warnings = ("cannot unmount: busy", "cannot remove: busy")
    LogProgress(sys.stderr).finished(entry)
    first, *logged = capsys.readouterr().err.splitlines()
    assert first == "buildahpy: web: the real cause"
    assert len(logged) == 2
    assert "cause='cannot unmount: busy'" in logged[0] and "cannot remove" in logged[1]
    assert all(line.startswith("web  warning: cleanup failed") for line in logged), logged


# -- errors of no buildahpy type: one line naming the step -------------------------------------


def node_for(name: str) -> Node:
    return Node(recipe_named(name), "target")


def recipe_named(name: str) -> Recipe:
    return Recipe(name, f"localhost/{name}:latest", lambda image: None, Path("f.py"), 1)


def job_for(tmp_path: Path, name: str) -> Job:
    return Job(name, Options(), HostRelease("x", "", ()), "dnf4")


def fake_build(recipe: Recipe, options: Options, **_: object) -> None:
    """A build whose step fails with errors of no buildahpy type; inner functions named as
    build.py's step functions are, so the error is found in the right one."""

    def prune_packages() -> None:
        with log.step("prune"):
            raise OSError(5, "Input/output error", "/mnt/usr/lib/sysimage/rpm")

    def scrub_leftovers() -> None:
        raise ValueError("invalid literal for int() with base 10: 'garbage'")

    with UnwindStack() as stack, log.step("build"):
        stack.callback(failing, "target is busy")
        prune_packages() if recipe.name == "prune" else scrub_leftovers()


@pytest.fixture
def broken_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("buildahpy.fleet.worker.build", fake_build)


EXPECTED = {
    "prune": "step prune: OSError: [Errno 5] Input/output error: '/mnt/usr/lib/sysimage/rpm'",
    "scrub": "step scrub leftovers: ValueError: invalid literal for int() with base 10: 'garbage'",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_unexpected_error_is_one_line_naming_the_step(
    tmp_path: Path, broken_build: None, name: str
) -> None:
    outcome = run_job(job_for(tmp_path, name), recipe_named(name))
    assert outcome == Outcome(
        error=EXPECTED[name],
        exit_code=1,
        warnings=("cannot unmount: buildah umount c exited 1: target is busy",),
    )


def test_inline_and_forked_builds_report_an_unexpected_error_alike(
    tmp_path: Path, broken_build: None, logs: Callable[..., None]
) -> None:
    logs()
    names = sorted(EXPECTED)
    inline, forked = (
        InlineExecutor(map(recipe_named, names)),
        ForkExecutor(2, tmp_path, list(map(recipe_named, names))),
    )
    for executor in (inline, forked):
        for name in names:
            executor.start(name, job_for(tmp_path, name))
    inline_outcomes = dict(inline.wait())
    forked_outcomes: dict[str, Outcome] = {}
    while forked.running():
        forked_outcomes.update(forked.wait())
    assert forked_outcomes == inline_outcomes
    assert {name: o.error for name, o in inline_outcomes.items()} == EXPECTED
    assert "Traceback" not in (tmp_path / "prune.log").read_text()


def test_the_traceback_is_logged_at_debug_level(
    tmp_path: Path,
    broken_build: None,
    capsys: pytest.CaptureFixture[str],
    logs: Callable[..., None],
) -> None:
    logs()
    run_job(job_for(tmp_path, "prune"), recipe_named("prune"))
    assert "Traceback" not in capsys.readouterr().err
    logs(verbose=True)
    run_job(job_for(tmp_path, "prune"), recipe_named("prune"))
    err = capsys.readouterr().err
    assert "Traceback" in err and "Input/output error" in err


def test_an_unexpected_error_outside_any_build_is_one_line_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def broken(args: object) -> int:
        raise ValueError("Expecting value: line 1 column 1 (char 0)")

    monkeypatch.setattr(cli, "run", broken)
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)
    assert cli.main([str(tmp_path / "r.py")]) == 1
    assert capsys.readouterr().err == (
        "buildahpy: ValueError: Expecting value: line 1 column 1 (char 0)\n"
    )


# -- recipe errors name the recipe's line -----------------------------------------------------


@pytest.fixture
def helper_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)  # paths in messages are shown relative to it
    (tmp_path / "common.py").write_text(
        textwrap.dedent("""\
        def setup(image, name):
            image.write_file("/etc/motd", "hi")
            image.install(name)
        """)
    )
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def helper_recipe(directory: Path, package: str, after: str = "") -> Recipe:
    path = directory / "app.py"
    path.write_text(
        textwrap.dedent(f"""\
        from buildahpy import recipe
        from common import setup

        @recipe("localhost/app")
        def app(image):
            image.mkdir("/etc")
            setup(image, {package!r})
        """)
        + after
    )
    (entry,) = load_file(path)
    return entry


def test_an_error_raised_in_a_helper_names_the_recipes_line_and_the_helpers(
    helper_dir: Path,
) -> None:
    entry = helper_recipe(helper_dir, "bad name")
    with pytest.raises(RecipeError) as caught:
        repo = helper_dir / "test.repo"
        repo.write_text("[fixture]\nbaseurl=file:///x\n")
        cli.dry_run(entry, Options(repo_files=(repo,)), HostRelease("fedora", "40", ()), "dnf4")
    assert str(caught.value) == (
        "app.py:7 (common.py:3): invalid package name 'bad name': not a package name or provide"
    )


@pytest.mark.parametrize("after", ["", "    image.mkdir('/srv')\n"])
def test_a_batched_install_that_fails_later_names_the_line_that_asked_for_it(
    helper_dir: Path, monkeypatch: pytest.MonkeyPatch, after: str
) -> None:
    """The install only runs when the recipe next touches the rootfs (line 8) or when it ends,
    outside the recipe: the error still names the line that asked for the package."""

    def not_found(ctx: Context, packages: list[str]) -> None:
        raise BuildError(f"package not found in the enabled repositories: {packages[0]}")

    monkeypatch.setattr(engine, "install_packages", not_found)
    monkeypatch.setattr(engine.LiveEngine, "_edit", lambda self, *_: self.flush())
    entry = helper_recipe(helper_dir, "ngnix", after)
    setup = Setup(entry, Options(), sample_plan(), NO_EXTRAS, {}, ExitStack(), "buildahpy-x")
    with RootFS(helper_dir) as root, pytest.raises(BuildError) as caught:
        build_mod.run_recipe(build_mod.record_base(setup, root))
    assert str(caught.value) == (
        "app.py:7 (common.py:3): package not found in the enabled repositories: ngnix"
    )


class Finished(list[Entry]):
    """A reporter that keeps the entries it is told have finished."""

    def started(self, entry: Entry) -> None:
        """Nothing to note."""

    def finished(self, entry: Entry) -> None:
        self.append(entry)


def test_an_unexpected_error_deciding_a_build_fails_only_that_recipe() -> None:
    class Preparer:
        def external_base(self, reference: str) -> str:
            return "id"

        def decide(self, node: Node, base_id: str | None) -> Decision:
            if node.name == "web":
                with log.step("refresh metadata"):
                    raise KeyError("basearch")
            return Decision(job=job_for(Path("/"), node.name))

    finished = Finished()
    entries = {name: Entry(node_for(name)) for name in ("web", "db")}
    decide_ready(entries, Preparer(), finished)
    assert [(e.name, e.status, e.error) for e in finished] == [
        ("web", "failed", "step refresh metadata: KeyError: 'basearch'")
    ]
    assert entries["db"].status == "queued"


def test_the_warnings_of_a_failed_build_reach_its_entry() -> None:
    finished = Finished()
    entry = Entry(node_for("web"), status="running")
    finish(entry, Outcome(error="cause", exit_code=1, warnings=("cannot unmount",)), finished)
    assert (entry.status, entry.error, entry.warnings) == ("failed", "cause", ("cannot unmount",))
    assert finished == [entry]
