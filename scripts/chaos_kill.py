"""scripts/chaos class kill: SIGKILL of a build job's session at a seeded random moment."""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

from chaos_lab import ROOT, Row, kill_session, lab, must


def run_kills(fixture: Path, rng: random.Random, count: int) -> list[Row]:
    rows = [Row("kill -9, single build"), Row("kill -9, --jobs 2 fleet")]
    with lab(fixture, "kill") as here:
        must(here.cli(here.recipes, "--jobs", "2"), "the first fleet build")
        started = time.monotonic()
        must(here.cli(here.recipes, "--jobs", "2", "--rebuild"), "a fleet rebuild")
        duration = time.monotonic() - started  # what a kill's moment is drawn within
        here.mounts_before = here.mounts()
        for index in range(count):
            row = rows[index % 2]
            args = ["--only", "a"] if row is rows[0] else ["--jobs", "2"]
            args = [str(here.recipes), *args, "--rebuild"]
            delay = rng.uniform(0.1, duration * (0.6 if row is rows[0] else 0.9))
            proc = subprocess.Popen(
                here.argv(*args),
                env=here.env,
                cwd=ROOT,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            try:
                proc.wait(timeout=delay)
                row.notes.append(f"finished before the kill at {delay:.2f} s")
            except subprocess.TimeoutExpired:
                row.faults += 1
            kill_session(proc)
            here.audit(row)
            after = here.cli(*args)  # the next build after the kill
            if after.returncode == 0:
                row.survived += 1 if proc.returncode != 0 else 0
            else:
                row.notes.append(f"next build failed: {after.stderr.strip()[-300:]}")
            here.audit(row)
    return rows
