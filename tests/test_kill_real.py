"""Builds killed with SIGKILL at the moments scripts/chaos found wanting: what they leave is gone
after ``buildahpy gc`` and after the next run's startup check, and the next build works."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import Builder
from proc_helpers import session_alive, start_build, wait_for

pytestmark = pytest.mark.integration

RECIPE = """\
from buildahpy import recipe

@recipe('localhost/killed')
def killed(image):
    image.install('busybox')
"""


def kill_job(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    wait_for(lambda: not session_alive(proc.pid), timeout=20)
    proc.communicate(timeout=20)


def staging(cache: Path) -> list[Path]:
    """Metadata snapshots being made (cache.py's <flavour>/tmp/)."""
    return sorted(p for p in cache.glob("*/tmp/*"))


def kill_during_snapshot(builder: Builder, recipe: Path, cache: Path) -> None:
    """Kill a run while its metadata snapshot is being made (an empty cache makes one); a
    run quick enough to finish it first is tried again, a few times."""
    for _ in range(8):
        proc = start_build(builder, recipe, "--rebuild")  # an up-to-date image needs none
        with contextlib.suppress(AssertionError):
            wait_for(lambda p=proc: staging(cache) or p.poll() is not None, timeout=60)
        kill_job(proc)
        if staging(cache):
            return
        builder.cli("gc", repo=False, releasever=None)
        for meta in cache.glob("*/meta/*"):
            shutil.rmtree(meta)
    pytest.fail("no run was caught making its metadata snapshot")


def test_a_snapshot_killed_half_made_is_removed_by_gc(builder: Builder) -> None:
    cache = Path(builder.env["BUILDAHPY_CACHE_DIR"])
    recipe = builder.recipe("killed.py", RECIPE)
    kill_during_snapshot(builder, recipe, cache)
    done = builder.cli("gc", repo=False, releasever=None)
    assert done.returncode == 0, done.stderr
    assert staging(cache) == [], done.stdout
    assert "removed the metadata snapshot being made" in done.stdout, done.stdout
    built = builder.cli(recipe)
    assert built.returncode == 0, built.stderr


def test_a_snapshot_killed_half_made_is_removed_by_the_next_run(builder: Builder) -> None:
    cache = Path(builder.env["BUILDAHPY_CACHE_DIR"])
    recipe = builder.recipe("killed.py", RECIPE)
    kill_during_snapshot(builder, recipe, cache)
    left = staging(cache)
    built = builder.cli(recipe)
    assert built.returncode == 0, built.stderr
    assert not any(path.exists() for path in left), left
