"""scripts/chaos class kill: SIGKILL of a build job's session at a seeded random moment.

Four kinds of job, in turn: one build (``--only a``), a ``--jobs 2`` fleet, one build with
``--push`` to a docker-registry on 127.0.0.1, and a ``--jobs 2`` fleet with ``--registry``
there. Each kill's moment is a fraction (drawn from the seed) of that kind's duration measured
at the start, from 0 (the interpreter starting) to past its end, or for one kill in two from
its first commit on (commit, --sbom, tag and push are short steps); one kill in four first
empties the shared cache, so that the metadata snapshot and the downloads (from a local HTTP
mirror of the fixture) are in the window.
Each job rewrites the recipes with a new serial, so a job that gets far enough moves the tags.

After each kill: gc, the leaks, every tag whose image was not checked before (an image id
names its content), the cache, --sbom's files, and for the registry kinds every tag there
(a whole image, old or new, or none before the first push); every ``check_every``-th kill and
at the end, the next job of that kind must work (and push). At the end every tag is checked
again, whatever was checked before.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import chaos_phases
import chaos_registry
from chaos_lab import Lab, Row, kill_session, lab, must
from latency_mirror import Mirror

RECIPES = """\
from buildahpy import recipe

@recipe("localhost/chaos/a")
def a(image):
    image.install("busybox")
    image.write_file("/chaos", "a {serial}\\n")

@recipe("localhost/chaos/b")
def b(image):
    image.install("zlib", "libacl")
    image.write_file("/chaos", "b {serial}\\n")
"""

VERBOSE = ["-v", "--log-format", "json"]  # each step and command: where the kill fell


@dataclass
class Kind:
    row: Row
    args: list[str]
    refs: list[str] = field(default_factory=list)  # registry tags the job pushes
    seconds: float = 0.0  # one job's duration, warm cache
    late: float = 0.0  # when its first commit starts: the short steps after it are aimed at
    pending: int = 0  # kills since the last next-job check
    phases: Counter[str] = field(default_factory=Counter)
    registry: Counter[str] = field(default_factory=Counter)  # old/new tags after kills


def run_kills(
    fixture: Path,
    rng: random.Random,
    count: int,
    *,
    check_every: int = 1,
    minutes: float | None = None,
) -> list[Row]:
    began = time.monotonic()
    deadline = began + minutes * 60 if minutes else None
    with (
        lab(fixture, "kill") as here,
        chaos_registry.registry(here.base / "registry") as reg,
        Mirror(fixture, 0.0) as mirror,
    ):
        # over HTTP, so that dnf downloads into the shared cache's pool (a file:// repository
        # is read in place) and a kill can fall in a download
        here.repo_file = mirror.repo_file(here.base / "mirror.repo", fixture / "fixture.repo")
        kinds = _kinds(here, reg)
        cold_extra = _measure(here, kinds)
        here.mounts_before = here.mounts()
        for index in range(count):
            if deadline is not None and time.monotonic() > deadline:
                print(f"chaos: kill: wall-clock bound reached after {index} kills", flush=True)
                break
            kind = kinds[index % len(kinds)]
            cold, late, fraction = rng.random() < 0.25, rng.random() < 0.5, rng.random()
            start = kind.late + (cold_extra if cold else 0.0) if late else 0.0
            delay = start + fraction * 1.05 * (kind.seconds + (cold_extra if cold else 0.0) - start)
            if index and index % 25 == 0:
                print(f"chaos: kill: {index} kills in {time.monotonic() - began:.0f} s", flush=True)
            _kill_one(here, kind, index + 1, cold=cold, delay=delay)
            if (index + 1) % check_every == 0:
                _next_job(here, kind, index + 1)
        for kind in kinds:
            if kind.pending:
                _next_job(here, kind, count + 1)
        final = Row("final")
        here.audit(final)  # every tag again, memo or not
        kinds[0].row.tags += final.tags
        kinds[0].row.leaks += final.leaks
        kinds[0].row.notes += [f"final audit: {note}" for note in final.notes]
    print(chaos_phases.table({k.row.name: k.phases for k in kinds}), flush=True)
    for kind in kinds:
        if kind.registry:
            kind.row.notes.append(
                "registry tags after the kills: "
                + ", ".join(f"{n} {w}" for w, n in sorted(kind.registry.items()))
            )
    return [kind.row for kind in kinds]


def _kinds(here: Lab, reg: str) -> list[Kind]:
    files = [str(here.recipes), "--rebuild"]
    sbom = ["--sbom", str(here.sboms)]
    tls = ["--tls-verify", "false"]
    return [
        Kind(Row("kill -9, single build"), [*files, "--only", "a", *sbom]),
        Kind(Row("kill -9, --jobs 2 fleet"), [*files, "--jobs", "2", *sbom]),
        Kind(
            Row("kill -9, --push"),
            [*files, "--only", "a", "--push", f"{reg}/push/{{recipe}}:1", *tls],
            [f"{reg}/push/a:1"],
        ),
        Kind(
            Row("kill -9, --registry fleet"),
            [*files, "--jobs", "2", "--registry", f"{reg}/fleet", *tls],
            [f"{reg}/fleet/a:latest", f"{reg}/fleet/b:latest"],
        ),
    ]


def _measure(here: Lab, kinds: list[Kind]) -> float:
    """Each kind's duration, from three jobs (which also make the tags and the registry's
    images the kills start from): one build is the --push job until its push, a fleet the
    --registry fleet until its last push. Returns what an empty cache adds to a fleet."""
    here.recipes.write_text(RECIPES.format(serial=0))
    started = time.monotonic()
    must(here.cli(*kinds[1].args), "the first fleet build")
    cold = time.monotonic() - started
    for kind, alone in ((kinds[2], kinds[0]), (kinds[3], kinds[1])):
        started, wall = time.monotonic(), time.time()
        done = here.cli(*kind.args, *VERBOSE)
        must(done, f"the first job of {kind.row.name}")
        kind.seconds = time.monotonic() - started
        kind.late = alone.late = _when(done.stderr, "buildah commit") - wall
        alone.seconds = _when(done.stderr, "buildah push", last=True) - wall
        for ref in kind.refs:
            if not chaos_registry.digest(ref):
                raise SystemExit(f"chaos: {kind.row.name}: {ref} is not in the registry")
    return max(0.0, cold - kinds[1].seconds)


def _when(stderr: str, command: str, *, last: bool = False) -> float:
    """When the job's log says it ran ``command`` first (or last), in seconds since the epoch."""
    stamps = [
        line.rsplit('"timestamp": "', 1)[1].split('"', 1)[0]
        for line in stderr.splitlines()
        if f'"cmd": "{command}' in line
    ]
    if not stamps:
        raise SystemExit(f"chaos: no {command} in the job's log")
    return datetime.fromisoformat(stamps[-1 if last else 0]).timestamp()


def _kill_one(here: Lab, kind: Kind, serial: int, *, cold: bool, delay: float) -> None:
    here.recipes.write_text(RECIPES.format(serial=serial))
    if cold:
        shutil.rmtree(here.cache, ignore_errors=True)
    before = {ref: chaos_registry.digest(ref) for ref in kind.refs}
    log = here.base / "kill.log"
    with log.open("w") as out:
        proc = here.start(*kind.args, *VERBOSE, out=out)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            kind.row.faults += 1
            kind.pending += 1
            kind.phases[chaos_phases.phase(log.read_text(errors="replace"))] += 1
        else:
            kind.phases["done"] += 1
            if proc.returncode != 0:  # a job the earlier kills broke: a loss
                kind.row.faults += 1
                kind.row.notes.append(f"job {serial} failed before its kill: {_tail(log)}")
        kill_session(proc)
    here.audit(kind.row, quick=True)
    for ref in kind.refs:
        after = chaos_registry.digest(ref)
        problem = chaos_registry.broken(ref) if after or before[ref] else ""
        kind.registry["unchanged" if after == before[ref] else "new"] += 1
        if problem:
            kind.row.tags += 1
            kind.row.notes.append(f"tags: {ref} after kill {serial}: {problem}")


def _next_job(here: Lab, kind: Kind, serial: int) -> None:
    """The next job of this kind works on what the kills left (and its pushes arrive whole);
    the kills since the last check survived when it does."""
    after = here.cli(*kind.args)
    problem = "" if after.returncode == 0 else after.stderr.strip()[-300:]
    if kind.refs and not problem and "pushed " not in after.stdout:
        problem = f"no push: {after.stdout.strip()[-300:]}"
    for ref in kind.refs:
        problem = problem or chaos_registry.broken(ref)
    if problem:
        kind.row.notes.append(f"next job after kill {serial} failed: {problem}")
    else:
        kind.row.survived += kind.pending
    kind.pending = 0
    here.audit(kind.row, quick=True)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace").strip()[-300:]
