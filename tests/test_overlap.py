"""Two runs writing one report, lockfile or SBOM path at once: each file is always whole."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest

from buildahpy.fleet import fleet, graph, summary
from buildahpy.fleet.fleet import schedule
from buildahpy.fleet.tagwait import TagWaits
from buildahpy.fleet.worker import Outcome
from buildahpy.host import cache
from tests.test_fleet import Events, FakeExecutor, FakePreparer, load


def test_two_writers_of_one_report_never_leave_half_a_file(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    reports = [{"images": [{"recipe": name * 20000}], "totals": {}} for name in ("a", "b")]
    errors: list[BaseException] = []
    done = threading.Event()

    def write(data: dict[str, object]) -> None:
        try:
            for _ in range(60):
                summary.write_report(path, data)
        except BaseException as exc:  # a rename of a partial file the other writer took
            errors.append(exc)

    def read() -> None:
        while not done.is_set():
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            try:
                json.loads(text)
            except ValueError as exc:
                errors.append(exc)
                return

    writers = [threading.Thread(target=write, args=(data,)) for data in reports]
    reader = threading.Thread(target=read)
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()
    assert errors == []
    assert json.loads(path.read_text()) in reports
    assert [p.name for p in tmp_path.iterdir()] == ["fleet.json"]  # no partial file left
    plain = tmp_path / "plain"
    plain.write_text("")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777  # not mkstemp's 0600


def test_a_sweep_removes_a_killed_runs_snapshot_staging_but_not_a_live_one(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    dead = root / "dnf4" / "tmp" / "meta-killed"  # a run killed while dnf filled it
    (dead / "fixture" / "repodata").mkdir(parents=True)
    swept: list[list[str]] = []

    def fill(staging: Path) -> None:  # another run's gc, or its startup check, meanwhile
        (staging / "fixture").mkdir()
        (staging / "fixture" / "repomd.xml").write_text("<repomd/>")
        swept.append(cache.collect_staging(root))

    snapshot = cache.make_snapshot(root / "dnf4", "key", fill)
    assert swept == [["meta-killed"]]
    assert (snapshot.meta / "fixture" / "repomd.xml").read_text() == "<repomd/>"
    assert list((root / "dnf4" / "tmp").iterdir()) == []


class Blocked(TagWaits):
    """Another run holds 'base' for the first few looks; records what is settled."""

    def __init__(self, looks: int) -> None:
        super().__init__()
        self.looks, self.settled, self.closed = looks, [], False
        self.seen: list[str] = []

    def ready(self, name: str, tag: str, base_image: str | None) -> bool:
        self.seen.append(name)
        if name == "base" and self.looks:
            self.looks -= 1
            return False
        return True

    def settle(self, names: Iterable[str]) -> None:
        self.settled += [n for n in names if n not in self.settled]

    def close(self) -> None:
        self.closed = True


class Clocked(FakeExecutor):
    def wait(self, timeout: float | None = None) -> list[tuple[str, Outcome]]:
        return super().wait()


def test_a_recipe_whose_tag_another_run_holds_waits_and_then_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet, "_TAG_POLL_SECONDS", 0.01)
    recipes = load(tmp_path)
    waits, events = Blocked(looks=3), Events()
    entries = schedule(graph.closure(recipes, recipes), FakePreparer(), Clocked(2), events, waits)
    assert {e.name: e.status for e in entries} == {e.name: "built" for e in entries}
    assert waits.seen.count("base") == 4  # three looks while the other run held it, then ours
    log = events.log
    assert log.index(("built", "base")) < log.index(("started", "app1"))
    assert "base" in waits.settled  # its lock let go once it was built
    assert waits.closed
