"""scripts/chaos --short: every class (kills, mirror faults, full disks, a damaged cache, two
fleets at once) loses nothing (the table's last three columns are 0), and every fault either
is survived or ends in one clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.integration

# one row (at least) of every class scripts/chaos runs by default
EVERY_CLASS = {
    "kill -9, single build",
    "kill -9, --jobs 2 fleet",
    "kill -9, --push",
    "kill -9, --registry fleet",
    "mirror, transient",
    "mirror, permanent",
    "disk full, cache on tmpfs",
    "disk full, containers storage",
    "damaged cache, pool",
    "damaged cache, metadata",
    "cache not writable",
    "kill -9, making the snapshot",
    "two fleets at once",
    "two fleets, one killed",
}
COLUMNS = ["FAULTS", "SURVIVED", "CLEAR ERRORS", "LEAKS", "DAMAGED TAGS", "DAMAGED CACHE"]


def rows(output: str) -> dict[str, list[int]]:
    """class -> the six counts, from the table scripts/chaos prints."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("CLASS "))
    table = {}
    for line in lines[start + 1 :]:
        if line.startswith(("  ", "chaos:")) or not line.strip():
            break
        name, *counts = line.rsplit(maxsplit=len(COLUMNS))
        table[name] = [int(c) for c in counts]
    return table


def test_chaos_short_loses_nothing(fixture_repo: Path, real_tools: None) -> None:
    env = dict(os.environ, BUILDAHPY_FIXTURE_DIR=str(fixture_repo.parent))
    seed = int.from_bytes(os.urandom(2), "big")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "chaos"), "--short", "--seed", str(seed)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert "\nCLASS " in done.stdout, done.stdout + done.stderr[-3000:]
    table = rows(done.stdout)
    assert set(table) >= EVERY_CLASS, done.stdout
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    for name, (faults, survived, clear, leaks, tags, cache) in table.items():
        assert (leaks, tags, cache) == (0, 0, 0), (name, done.stdout)
        assert survived + clear == faults, (name, done.stdout)
    assert sum(faults for faults, *_ in table.values()) >= 18, done.stdout
