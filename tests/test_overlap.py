"""Two runs writing one report, lockfile or SBOM path at once: each file is always whole."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from buildahpy.fleet import summary
from buildahpy.host import cache


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
        swept.append(cache.sweep_staging(root))

    snapshot = cache.make_snapshot(root / "dnf4", "key", fill)
    assert swept == [["meta-killed"]]
    assert (snapshot.meta / "fixture" / "repomd.xml").read_text() == "<repomd/>"
    assert list((root / "dnf4" / "tmp").iterdir()) == []
