"""The fleet as data: bases and their order, cycles, shards, the scheduler with fake builds, the
forked build processes with a fake build inside, the end-of-run table, summary and report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from buildahpy import log
from buildahpy.api.recipe import Recipe, load_file, load_files
from buildahpy.build.context import BuildResult
from buildahpy.errors import BuildError, Interrupted, RecipeError, UsageError
from buildahpy.fleet import graph, summary
from buildahpy.fleet.fleet import (
    BUILT,
    FAILED,
    SKIPPED,
    UP_TO_DATE,
    ForkExecutor,
    InlineExecutor,
    schedule,
)
from buildahpy.fleet.jobs import Decision, LocalImage, index_images
from buildahpy.fleet.progress import LiveProgress, LogProgress
from buildahpy.fleet.worker import Job, Outcome
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.plan import Options

FLEET = """
    from buildahpy import recipe

    @recipe("localhost/base")
    def base(image):
        image.install("bash")

    @recipe("localhost/app1", base=base)
    def app1(image):
        image.install("busybox")

    @recipe("localhost/app2", base="localhost/base")
    def app2(image):
        image.install("zlib")

    @recipe("localhost/tool", base=app1)
    def tool(image):
        pass

    @recipe("localhost/ext", base="quay.io/fedora/fedora-minimal:40")
    def ext(image):
        pass

    @recipe("localhost/solo")
    def solo(image):
        pass
"""


def load(tmp_path: Path, body: str = FLEET, name: str = "fleet.py") -> list[Recipe]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return load_file(path)


def by_name(recipes: list[Recipe]) -> dict[str, Recipe]:
    return {entry.name: entry for entry in recipes}


# -- recipes and the graph -------------------------------------------------------------------


def test_base_is_a_recipe_function_or_an_image_reference(tmp_path: Path) -> None:
    recipes = by_name(load(tmp_path))
    assert recipes["app1"].base == "localhost/base:latest"
    assert recipes["app2"].base == "localhost/base:latest"
    assert recipes["tool"].base == "localhost/app1:latest"
    assert recipes["ext"].base == "quay.io/fedora/fedora-minimal:40"
    assert recipes["solo"].base is None


def test_base_that_is_not_a_recipe_is_a_recipe_error(tmp_path: Path) -> None:
    body = """
        from buildahpy import recipe

        def helper(image):
            pass

        @recipe("localhost/x", base=helper)
        def x(image):
            pass
    """
    with pytest.raises(RecipeError, match=r"fleet.py:7: base=helper is not a recipe"):
        load(tmp_path, body)


def test_closure_puts_bases_first_and_marks_what_they_are_for(tmp_path: Path) -> None:
    recipes = load(tmp_path)
    nodes = graph.closure(recipes, [by_name(recipes)["tool"]])
    assert [(n.name, n.role, n.base_recipe) for n in nodes] == [
        ("base", graph.BASE, None),
        ("app1", graph.BASE, "base"),
        ("tool", graph.TARGET, "app1"),
    ]
    everything = graph.closure(recipes, recipes)
    assert [n.name for n in everything] == ["base", "app1", "app2", "tool", "ext", "solo"]
    assert all(n.role == graph.TARGET for n in everything)
    ext = next(n for n in everything if n.name == "ext")
    assert (ext.base_recipe, ext.base_image) == (None, "quay.io/fedora/fedora-minimal:40")


def test_a_base_defined_after_its_dependent_still_builds_first(tmp_path: Path) -> None:
    body = """
        from buildahpy import recipe

        @recipe("localhost/app", base="localhost/late-base")
        def app(image):
            pass

        @recipe("localhost/late-base")
        def late_base(image):
            pass
    """
    assert [n.name for n in graph.closure(*[load(tmp_path, body)] * 2)] == ["late_base", "app"]


def test_cycles_are_a_usage_error_naming_the_loop(tmp_path: Path) -> None:
    body = """
        from buildahpy import recipe

        @recipe("localhost/a", base="localhost/c")
        def a(image):
            pass

        @recipe("localhost/b", base="localhost/a")
        def b(image):
            pass

        @recipe("localhost/c", base="localhost/b")
        def c(image):
            pass

        @recipe("localhost/d", base="localhost/a")
        def d(image):
            pass
    """
    recipes = load(tmp_path, body)
    with pytest.raises(UsageError, match=r"cycle: a -> c -> b -> a") as raised:
        graph.closure(recipes, recipes[3:])
    assert raised.value.exit_code == 2
    selfish = load(
        tmp_path,
        "from buildahpy import recipe\n@recipe('localhost/me', base='localhost/me')\n"
        "def me(image):\n    pass\n",
        "me.py",
    )
    with pytest.raises(UsageError, match=r"cycle: me -> me"):
        graph.check_cycles(selfish)


def test_two_recipes_building_one_tag_is_a_usage_error(tmp_path: Path) -> None:
    one = tmp_path / "one.py"
    one.write_text("from buildahpy import recipe\n@recipe('localhost/x')\ndef a(image):\n  pass\n")
    two = tmp_path / "two.py"
    two.write_text("from buildahpy import recipe\n@recipe('localhost/x')\ndef b(image):\n  pass\n")
    recipes = load_files([one, two])
    with pytest.raises(UsageError, match=r"recipes a .* and b .* both build localhost/x:latest"):
        graph.closure(recipes, recipes)


def recipes_named(names: list[str]) -> list[Recipe]:
    return [Recipe(n, f"localhost/{n}:latest", lambda i: None, Path("f.py"), 1) for n in names]


def test_shards_cover_every_recipe_exactly_once() -> None:
    names = [f"image_{index}" for index in range(200)]
    recipes = recipes_named(names)
    for count in (1, 2, 3, 7):
        slices = [graph.in_shard(recipes, index, count) for index in range(count)]
        flat = [entry.name for part in slices for entry in part]
        assert sorted(flat) == sorted(names), count
        assert len(flat) == len(set(flat))
        if count > 1:
            assert all(slices), "a slice of 200 recipes should not be empty"


def test_adding_recipes_never_moves_the_others() -> None:
    names = [f"image_{index}" for index in range(50)]
    grown_names = ["new_a", *names[:25], "new_b", "new_c", *names[25:], "new_d"]
    before, after = recipes_named(names), recipes_named(grown_names)
    for index in range(4):
        kept = [e.name for e in graph.in_shard(after, index, 4) if e.name in names]
        assert kept == [e.name for e in graph.in_shard(before, index, 4)], index


def test_every_process_puts_a_recipe_in_the_same_shard() -> None:
    # each shard of a CI matrix is its own process: str hashes differ between them
    names = [f"image_{index}" for index in range(50)]
    code = f"from buildahpy.fleet import graph; print([graph.shard_of(n, 4) for n in {names!r}])"
    other = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, PYTHONHASHSEED="12345"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert other.stdout.strip() == str([graph.shard_of(n, 4) for n in names])


@pytest.mark.parametrize("text", ["1/1", "3/2", "-1/2", "a/b", "0/0", "1"])
def test_bad_shards_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        graph.parse_shard(text)


def test_shard_pulls_in_bases_from_other_slices(tmp_path: Path) -> None:
    recipes = load(tmp_path)
    targets: list[str] = []
    for index in range(3):
        nodes = graph.closure(recipes, graph.in_shard(recipes, index, 3))
        for node in nodes:
            if node.base_recipe:  # every base a node needs is in the same run, before it
                assert node.base_recipe in [n.name for n in nodes[: nodes.index(node)]]
        targets += [node.name for node in nodes if node.role == graph.TARGET]
    assert sorted(targets) == sorted(entry.name for entry in recipes)


# -- the scheduler ---------------------------------------------------------------------------


class FakePreparer:
    """Decides like jobs.Preparer, from a table: which recipes are up to date, which fail."""

    def __init__(self, up_to_date: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.up_to_date = up_to_date
        self.bases: dict[str, str | None] = {}

    def external_base(self, reference: str) -> str:
        if "missing" in reference:
            raise BuildError(f"cannot pull the base image {reference}")
        return "ext-id"

    def decide(self, node: graph.Node, base_id: str | None) -> Decision:
        self.bases[node.name] = base_id
        if node.name in self.up_to_date:
            return Decision(up_to_date=LocalImage(f"old-{node.name}", "", 1, {}), inputs="d")
        job = Job(node.name, Options(), HostRelease("x", "", ()), "dnf4")
        return Decision(job=job, inputs="d")


PACKAGES = {
    "base": ("bash-5-1.x", "glibc-2-1.x"),
    "app1": ("bash-5-1.x", "busybox-1-1.x", "glibc-2-1.x"),
    "tool": ("bash-5-1.x", "busybox-1-1.x", "glibc-2-1.x"),
    "ext": ("ext-1-1.x",),
    "solo": ("busybox-1-1.x",),
}
SIZES = {"base": 100, "app1": 130, "tool": 131, "ext": 7, "solo": 30}


# How long each fake build takes: builds end in another order than they started, and two
# may end at the same moment (ForkExecutor.wait returns every build that has exited).
DURATIONS = {"base": 2, "app1": 3, "app2": 1, "tool": 1, "ext": 3, "solo": 1}


class FakeExecutor:
    """Runs builds on a simulated clock: each ends DURATIONS after it started; ``wait``
    returns every build that ends first. Records what overlapped."""

    def __init__(self, capacity: int, failing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.capacity = capacity
        self.failing = failing
        self.now = 0
        self.started: list[str] = []
        self.ends: dict[str, int] = {}
        self.finished: list[list[str]] = []  # each wait's batch
        self.peak = 0

    @property
    def active(self) -> list[str]:
        return list(self.ends)

    def start(self, name: str, job: Job) -> None:
        self.started.append(name)
        self.ends[name] = self.now + DURATIONS.get(name, 1)
        self.peak = max(self.peak, len(self.ends))

    def running(self) -> list[str]:
        return list(self.ends)

    def wait(self) -> list[tuple[str, Outcome]]:
        self.now = min(self.ends.values())
        batch = [name for name, end in self.ends.items() if end == self.now]
        for name in batch:
            del self.ends[name]
        self.finished.append(batch)
        return [(name, self.outcome(name)) for name in batch]

    def outcome(self, name: str) -> Outcome:
        if name in self.failing:
            return Outcome(error=f"{name} broke", exit_code=1)
        packages, size = PACKAGES.get(name, ()), SIZES.get(name, 1)
        result = BuildResult(name, f"localhost/{name}:latest", f"id-{name}", size, packages, 1.0)
        return Outcome(result=result)

    def stop(self) -> None:
        self.ends.clear()


class Events:
    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def started(self, entry) -> None:  # type: ignore[no-untyped-def]
        self.log.append(("started", entry.name))

    def finished(self, entry) -> None:  # type: ignore[no-untyped-def]
        self.log.append((entry.status, entry.name))


def test_bases_build_before_dependents_and_once(tmp_path: Path) -> None:
    recipes = load(tmp_path)
    executor, events = FakeExecutor(capacity=2), Events()
    preparer = FakePreparer()
    entries = schedule(graph.closure(recipes, recipes), preparer, executor, events)
    assert sorted(executor.started) == sorted(entry.name for entry in recipes)
    log = events.log
    for dependent, base in [("app1", "base"), ("app2", "base"), ("tool", "app1")]:
        assert log.index(("built", base)) < log.index(("started", dependent)), log
    assert executor.peak == 2
    order = [name for batch in executor.finished for name in batch]
    assert order != executor.started, "the fake should end builds out of start order"
    assert any(len(batch) > 1 for batch in executor.finished), "and some at the same moment"
    assert preparer.bases["tool"] == "id-app1" and preparer.bases["ext"] == "ext-id"
    assert preparer.bases["base"] is None
    assert {entry.status for entry in entries} == {BUILT}


def test_failures_skip_dependents_and_the_rest_carries_on(tmp_path: Path) -> None:
    recipes = load(tmp_path)
    executor = FakeExecutor(capacity=3, failing={"app1"})
    entries = schedule(graph.closure(recipes, recipes), FakePreparer(), executor, Events())
    status = {entry.name: (entry.status, entry.error) for entry in entries}
    assert status["app1"] == (FAILED, "app1 broke")
    assert status["tool"] == (SKIPPED, "base app1 failed")
    assert "tool" not in executor.started
    assert {status[n][0] for n in ("base", "app2", "ext", "solo")} == {BUILT}


def test_a_failed_base_skips_everything_on_it_transitively(tmp_path: Path) -> None:
    recipes = load(tmp_path)
    executor = FakeExecutor(capacity=1, failing={"base"})
    entries = schedule(graph.closure(recipes, recipes), FakePreparer(), executor, Events())
    status = {entry.name: entry.status for entry in entries}
    assert status == {
        "base": FAILED,
        "app1": SKIPPED,
        "app2": SKIPPED,
        "tool": SKIPPED,
        "ext": BUILT,
        "solo": BUILT,
    }


def test_a_base_that_cannot_be_pulled_fails_only_its_images(tmp_path: Path) -> None:
    body = FLEET.replace("quay.io/fedora/fedora-minimal:40", "quay.io/missing:1")
    recipes = load(tmp_path, body)
    entries = schedule(graph.closure(recipes, recipes), FakePreparer(), FakeExecutor(2), Events())
    status = {entry.name: (entry.status, entry.error) for entry in entries}
    assert status["ext"] == (FAILED, "cannot pull the base image quay.io/missing:1")
    assert status["solo"][0] == BUILT


def test_up_to_date_images_run_nothing_and_their_dependents_use_their_id(tmp_path: Path) -> None:
    recipes = load(tmp_path)
    executor = FakeExecutor(capacity=2)
    preparer = FakePreparer(up_to_date={"base", "app1", "solo"})
    entries = schedule(graph.closure(recipes, recipes), preparer, executor, Events())
    assert sorted(executor.started) == ["app2", "ext", "tool"]
    assert preparer.bases["app2"] == "old-base" and preparer.bases["tool"] == "old-app1"
    assert {e.name: e.status for e in entries}["base"] == UP_TO_DATE


def test_interrupt_stops_every_running_build_and_propagates(tmp_path: Path) -> None:
    recipes = load(tmp_path)

    class Interrupting(FakeExecutor):
        def wait(self) -> list[tuple[str, Outcome]]:
            raise KeyboardInterrupt

    executor = Interrupting(capacity=2)
    with pytest.raises(KeyboardInterrupt):
        schedule(graph.closure(recipes, recipes), FakePreparer(), executor, Events())
    assert executor.active == []  # stop() ran


def test_inline_executor_builds_one_at_a_time_in_this_process(
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    recipes = load(tmp_path)
    reporter, ran = Events(), []

    def fake_run_job(job: Job, recipe: Recipe) -> Outcome:
        # --jobs 1: each build's result is reported before the next one starts
        reported = {name for status, name in reporter.log if status in (BUILT, FAILED)}
        assert set(ran) <= reported, f"{recipe.name} started before {set(ran) - reported} ended"
        ran.append(recipe.name)  # a list of this process: a forked build could not add to it
        if recipe.name == "app1":
            return Outcome(error="app1 broke", exit_code=1)
        result = BuildResult(recipe.name, recipe.tag, f"id-{recipe.name}", 1, (), 1.0)
        return Outcome(result=result)

    monkeypatch.setattr("buildahpy.fleet.fleet.run_job", fake_run_job)
    preparer = FakePreparer()
    entries = schedule(graph.closure(recipes, recipes), preparer, InlineExecutor(recipes), reporter)
    built = ["base", "app2", "ext", "solo"]
    assert sorted(ran) == sorted([*built, "app1"])
    status = {e.name: (e.status, e.image_id or e.error) for e in entries}
    assert status == {
        **{name: (BUILT, f"id-{name}") for name in built},
        "app1": (FAILED, "app1 broke"),
        "tool": (SKIPPED, "base app1 failed"),
    }
    assert preparer.bases["app2"] == "id-base"
    finished = [name for kind, name in reporter.log if kind != "started"]
    assert sorted(finished) == sorted(entry.name for entry in recipes)  # each once


# -- forked builds ----------------------------------------------------------------------------


def job_for(tmp_path: Path, name: str) -> Job:
    return Job(name, Options(), HostRelease("x", "", ()), "dnf4")


def recipe_named(name: str) -> Recipe:
    return Recipe(name, f"localhost/{name}:latest", lambda image: None, Path("f.py"), 1)


def forked(tmp_path: Path, names: list[str], capacity: int = 2) -> ForkExecutor:
    return ForkExecutor(capacity, tmp_path, [recipe_named(name) for name in names])


def test_each_build_runs_in_its_own_process_and_reports_back(
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    def fake_run_job(job: Job, recipe: Recipe) -> Outcome:
        print(f"building {recipe.name} in {os.getpid()}")  # goes to the build's log
        if recipe.name == "bad":
            return Outcome(error="dnf failed", exit_code=1)
        if recipe.name == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        result = BuildResult(recipe.name, recipe.tag, f"id-{os.getpid()}", 5, ("p-1-1.x",), 1.0)
        return Outcome(result=result)

    monkeypatch.setattr("buildahpy.fleet.worker.run_job", fake_run_job)
    executor = forked(tmp_path, ["good", "bad", "crash"], capacity=3)
    for name in ("good", "bad", "crash"):
        executor.start(name, job_for(tmp_path, name))
    assert sorted(executor.running()) == ["bad", "crash", "good"]
    finished: dict[str, Outcome] = {}
    while executor.running():
        finished.update(executor.wait())
    good = finished["good"].result
    assert good is not None and good.image_id != f"id-{os.getpid()}"
    assert (tmp_path / "good.log").read_text() == f"building good in {good.image_id[3:]}\n"
    assert finished["bad"] == Outcome(error="dnf failed", exit_code=1)
    assert finished["crash"].result is None
    assert finished["crash"].error == "the build's process exited -9: building crash in " + (
        (tmp_path / "crash.log").read_text().split(" in ")[1].strip()
    )


def test_stop_sends_sigterm_to_every_running_build_and_waits(
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    def slow_run_job(job: Job, recipe: Recipe) -> Outcome:
        try:
            time.sleep(30)
        except Interrupted as exc:  # the single build's handler is inherited through the fork
            (tmp_path / f"{recipe.name}.stopped").write_text(str(exc.exit_code))
            raise
        return Outcome(error="not stopped", exit_code=1)

    from buildahpy.__main__ import _on_signal

    monkeypatch.setattr("buildahpy.fleet.worker.run_job", slow_run_job)
    previous = signal.signal(signal.SIGTERM, _on_signal)
    try:
        executor = forked(tmp_path, ["one", "two"])
        executor.start("one", job_for(tmp_path, "one"))
        executor.start("two", job_for(tmp_path, "two"))
        time.sleep(0.3)
        started = time.monotonic()
        executor.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert time.monotonic() - started < 10
    assert executor.running() == []
    assert (tmp_path / "one.stopped").read_text() == "143"
    assert (tmp_path / "two.stopped").read_text() == "143"


def test_a_build_that_ignores_sigterm_is_killed_after_the_grace_period(
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    def stubborn_run_job(job: Job, recipe: Recipe) -> Outcome:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        (tmp_path / "ready").write_text("")
        time.sleep(30)
        return Outcome()

    monkeypatch.setattr("buildahpy.fleet.worker.run_job", stubborn_run_job)
    monkeypatch.setattr("buildahpy.fleet.fleet._STOP_GRACE_SECONDS", 0.5)
    executor = forked(tmp_path, ["stuck"])
    executor.start("stuck", job_for(tmp_path, "stuck"))
    while not (tmp_path / "ready").exists():
        time.sleep(0.02)
    pid = executor.pids["stuck"]
    executor.stop()
    assert executor.running() == []
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no zombie left behind


# -- the end of the run ------------------------------------------------------------------------


def finished_entries(tmp_path: Path) -> list:  # type: ignore[type-arg]
    recipes = load(tmp_path)
    executor = FakeExecutor(capacity=2, failing={"app2"})
    return schedule(
        graph.closure(recipes, recipes), FakePreparer(up_to_date={"solo"}), executor, Events()
    )


def images_for(entries: list) -> dict[str, LocalImage]:  # type: ignore[type-arg]
    raw = [
        {
            "Id": entry.image_id or f"old-{entry.name}",
            "Digest": f"sha256:{entry.name}",
            "Size": SIZES[entry.name],
            "RepoTags": [entry.node.recipe.tag],
            "Labels": {"io.buildahpy.packages": " ".join(PACKAGES[entry.name])},
        }
        for entry in entries
        if entry.name in PACKAGES
    ]
    return index_images(raw)


def test_table_has_every_recipe_and_totals(tmp_path: Path) -> None:
    entries = finished_entries(tmp_path)
    table = summary.rows(entries, images_for(entries))
    out = __import__("io").StringIO()
    summary.print_table(table, 12.34, out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == [
        "RECIPE", "TAG", "STATUS", "ROLE", "IMAGE", "ID", "SIZE", "PACKAGES", "SECONDS",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert rows["app2"][1:4] == ["localhost/app2:latest", "failed", "target"]
    assert rows["app2"][4:7] == ["-", "-", "-"]
    assert rows["solo"][2] == "up-to-date" and rows["solo"][4] == "old-solo"
    assert rows["base"][5:7] == ["100", "B"]
    assert lines[-1] == (
        "total: 6 images (4 built, 1 up-to-date, 1 failed), 398 B, 4 distinct packages, 12.3 s"
    )


def test_fleet_summary_shows_what_bases_share_and_what_is_unique(tmp_path: Path) -> None:
    entries = finished_entries(tmp_path)
    images = images_for(entries)
    table = summary.rows([e for e in entries if e.status != FAILED], images)
    shares = {share.tag.split("/")[1]: share for share in summary.fleet_shares(table, images)}
    assert shares["base:latest"].own == ("bash-5-1.x", "glibc-2-1.x")
    assert shares["base:latest"].unique == ()
    assert shares["app1:latest"].own == ("busybox-1-1.x",) and shares["app1:latest"].shared == 2
    assert shares["app1:latest"].own_bytes == 30
    assert shares["tool:latest"].own == () and shares["tool:latest"].own_bytes == 1
    assert shares["ext:latest"].unique == ("ext-1-1.x",)
    out = __import__("io").StringIO()
    summary.print_fleet(list(shares.values()), table, out)
    assert out.getvalue().splitlines()[-1] == (
        "fleet: 5 images, 4 distinct packages; 168 B in own layers (398 B if nothing were shared)"
    )


def test_json_report_has_one_object_per_image(tmp_path: Path) -> None:
    entries = finished_entries(tmp_path)
    images = images_for(entries)
    table = summary.rows(entries, images)
    data = summary.report(table, summary.fleet_shares(table, images), 3.0)
    path = tmp_path / "report.json"
    summary.write_report(path, data)
    loaded = json.loads(path.read_text())
    by_recipe = {image["recipe"]: image for image in loaded["images"]}
    assert len(by_recipe) == 6
    app1 = by_recipe["app1"]
    assert app1["status"] == "built" and app1["image_id"] == "id-app1"
    assert app1["digest"] == "sha256:app1" and app1["size"] == 130
    assert app1["packages"] == ["bash-5-1.x", "busybox-1-1.x", "glibc-2-1.x"]
    assert app1["own_packages"] == ["busybox-1-1.x"] and app1["own_bytes"] == 30
    assert app1["error"] is None and app1["base"] == "localhost/base:latest"
    assert by_recipe["app2"]["error"] == "app2 broke" and by_recipe["app2"]["digest"] is None
    assert by_recipe["solo"]["packages"] == ["busybox-1-1.x"]  # from the label
    assert loaded["totals"]["failed"] == 1 and loaded["totals"]["images"] == 6


# -- progress ----------------------------------------------------------------------------------


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    """Only warnings and errors, onto the test's captured stderr (as ``-q`` does), once the
    test calls it (after its fake builds, whose capture replaces stderr)."""
    yield
    structlog.reset_defaults()


def test_plain_progress_prints_one_error_line_per_failure(
    tmp_path: Path, quiet_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    progress = LogProgress()
    entries = finished_entries(tmp_path)
    log.configure(quiet=True)
    for entry in entries:
        progress.finished(entry)
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "warning" not in line] == [
        "buildahpy: app2: app2 broke"
    ]


def test_live_progress_redraws_one_status_line(
    tmp_path: Path, quiet_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = __import__("io").StringIO()
    entries = {e.name: e for e in finished_entries(tmp_path)}
    log.configure(quiet=True)
    progress = LiveProgress(out, total=6)
    progress.started(entries["base"])
    progress.started(entries["solo"])
    progress.finished(entries["base"])
    progress.finished(entries["app2"])
    text = out.getvalue()
    assert "\r\x1b[K     built  base 1.0s\n" in text
    assert capsys.readouterr().err == "buildahpy: app2: app2 broke\n"
    assert text.endswith("[2/6] 1 built, 1 failed | running: solo 0s")


def test_forked_builds_inherit_the_buildah_probe(
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """Before: every forked build ran ``buildah from --help`` again (its answer was cached in
    the child only)."""
    from test_features import fake_tool

    from buildahpy.host import features

    calls = tmp_path / "calls"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake_tool(bindir, "buildah", f'echo "$@" >> {calls}\necho "      --ulimit strings   x"')
    monkeypatch.setenv("PATH", str(bindir))

    def probing_run_job(job: Job, recipe: Recipe) -> Outcome:
        if not features.buildah_has("from", "--ulimit"):
            return Outcome(error="no --ulimit", exit_code=1)
        result = BuildResult(recipe.name, recipe.tag, "id", 5, (), 1.0)
        return Outcome(result=result)

    monkeypatch.setattr("buildahpy.fleet.worker.run_job", probing_run_job)
    features.forget()
    try:
        executor = forked(tmp_path, ["a", "b", "c"], capacity=3)
        for name in ("a", "b", "c"):
            executor.start(name, job_for(tmp_path, name))
        finished: dict[str, Outcome] = {}
        while executor.running():
            finished.update(executor.wait())
    finally:
        features.forget()
    assert all(outcome.result is not None for outcome in finished.values()), finished
    assert calls.read_text().splitlines() == ["from --help"]
