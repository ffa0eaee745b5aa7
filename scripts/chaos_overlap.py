"""scripts/chaos class overlap: two fleet runs at once on one containers-storage and one cache.

Cases, each followed by the audit: the same recipe file twice (``--jobs 2`` each); two files
that share a tag, one building on the other's base image by reference; one run with
``--rebuild`` beside one without; ``buildahpy gc`` while a run builds; and a run SIGKILLed (at a
seeded moment) while the other waits for its tag, which must take over. Each run must exit 0, and
every ``localhost/chaos/*`` tag must be on an image one of the two runs reported.
"""

from __future__ import annotations

import random
import re
import subprocess
import threading
import time
from pathlib import Path

from chaos_lab import Lab, Row, kill_session, lab

SLOW = """\
import time

from buildahpy import recipe

@recipe("localhost/chaos/base")
def base(image):
    image.install("busybox")
    if image.rootfs.is_dir():  # the real build, not the recording of its inputs
        time.sleep({seconds})

@recipe("localhost/chaos/a", base=base)
def a(image):
    image.install("zlib")

@recipe("localhost/chaos/shared")
def shared(image):
    image.install("libacl")
"""

OTHER = """\
from buildahpy import recipe

@recipe("localhost/chaos/b", base="localhost/chaos/base")
def b(image):
    image.install("zlib")

@recipe("localhost/chaos/shared")
def shared(image):
    image.install("libacl")
    image.write_file("/other", "another file's recipe\\n")
"""

ID = re.compile(r"^\S+\s+(localhost/chaos/\S+)\s+(?:built|up-to-date)\s+\S+\s+([0-9a-f]{12})\s")


def claimed(here: Lab, proc: subprocess.Popen[str], tag: str, seconds: float = 60) -> bool:
    """Wait until ``proc`` holds the lock of ``tag`` (its lock file names it)."""
    deadline = time.monotonic() + seconds
    locks = here.base / "graph" / "buildahpy-locks"
    while time.monotonic() < deadline and proc.poll() is None:
        for path in locks.glob("tag-*.lock"):
            try:
                fields = path.read_text().split()
            except OSError:
                continue
            if fields[:1] == [str(proc.pid)] and fields[2:] == [tag]:
                return True
        time.sleep(0.05)
    return False


def images(table: str) -> set[tuple[str, str]]:
    """(tag, image id) of every image a run's table reports built or up to date."""
    return {(m.group(1), m.group(2)) for m in map(ID.match, table.splitlines()) if m}


def wrong_tags(here: Lab, reported: set[tuple[str, str]]) -> list[str]:
    """The runs' tags that are not on an image one of the runs reported for them."""
    wrong = []
    for tag in sorted({tag for tag, _id in reported}):
        found = here.tool("buildah", "inspect", "--type=image", "--format={{.FromImageID}}", tag)
        if (tag, found.strip()[:12]) not in reported:
            wrong.append(f"{tag} is on {found.strip()[:12]}, which neither run reported")
    return wrong


def pair(here: Lab, row: Row, name: str, first: list[str | Path], second: list[str | Path]) -> None:
    """Two runs, the second started once the first holds the slow base's tag."""
    row.faults += 1
    one = here.start(*first)
    claimed(here, one, "localhost/chaos/base:latest")
    two = here.start(*second)
    outs = [proc.communicate(timeout=300) for proc in (one, two)]
    judge(here, row, name, [one.returncode, two.returncode], outs)


def judge(
    here: Lab, row: Row, name: str, codes: list[int | None], outs: list[tuple[str, str]]
) -> None:
    """Survived: every run exited 0 and each of their tags is on an image one of them
    reported; then the audit (leaks, damaged tags, damaged cache)."""
    failed = [
        f"run {i + 1} exit {code}: {outs[i][1].strip()[-300:]}"
        for i, code in enumerate(codes)
        if code != 0
    ]
    reported: set[tuple[str, str]] = set()
    for out, _err in outs:
        reported |= images(out)
    wrong = wrong_tags(here, reported)
    row.tags += len(wrong)
    row.notes += [f"{name}: {problem}" for problem in [*failed, *wrong]]
    row.survived += 0 if failed or wrong else 1
    here.audit(row)


def gc_during(here: Lab, row: Row, recipes: Path) -> None:
    row.faults += 1
    run = here.start(recipes, "--jobs", "2", "--rebuild")
    claimed(here, run, "localhost/chaos/base:latest")
    time.sleep(0.5)  # its working container exists now
    during = here.gc()
    out = run.communicate(timeout=300)
    kept = "a build is running" in during.stdout and "kept buildahpy-" in during.stdout
    if not kept:
        row.notes.append(f"gc during a run took or saw nothing of it: {during.stdout[-300:]}")
    judge(here, row, "gc during a run", [run.returncode if kept else -1], [out])


def killed_under_a_waiter(here: Lab, row: Row, rng: random.Random) -> None:
    """The first run builds the base slowly; the second waits for it; the first is killed."""
    row.faults += 1
    slow, fast = here.base / "slow60.py", here.base / "fast.py"
    slow.write_text(SLOW.format(seconds=60))
    fast.write_text(SLOW.format(seconds=0))
    one = here.start(slow, "--jobs", "2", "--rebuild")
    claimed(here, one, "localhost/chaos/base:latest")
    two = here.start(fast, "--jobs", "2")
    out: list[str] = []
    err: list[str] = []
    readers = [
        threading.Thread(target=lambda: out.extend(two.stdout or []), daemon=True),
        threading.Thread(target=lambda: err.extend(two.stderr or []), daemon=True),
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 60
    while not any("waiting for localhost/chaos/base" in line for line in err):
        if time.monotonic() > deadline or two.poll() is not None:
            row.notes.append("the second run never waited for the first")
            break
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 1.5))  # a seeded moment of the wait
    kill_session(one)
    started = time.monotonic()
    two.wait(timeout=120)
    for reader in readers:
        reader.join(timeout=10)
    took = time.monotonic() - started
    if took > 45:
        row.notes.append(f"the waiter took {took:.0f} s to take over")
    code = two.returncode if took <= 45 else -1
    judge(here, row, "killed under a waiter", [code], [("".join(out), "".join(err))])


def run_overlap(fixture: Path, rng: random.Random, short: bool) -> list[Row]:
    rows = [Row("two fleets at once"), Row("two fleets, one killed")]
    with lab(fixture, "overlap") as here:
        slow, other = here.base / "slow.py", here.base / "other.py"
        slow.write_text(SLOW.format(seconds=1 if short else 3))
        other.write_text(OTHER)
        here.mounts_before = here.mounts()
        for _ in range(1 if short else 3):
            pair(here, rows[0], "same file", [slow, "--jobs", "2"], [slow, "--jobs", "2"])
            # the base does not exist yet when the other file's recipe wants it
            for tag in ("a", "b", "base"):  # some may not exist
                rmi = ["buildah", "rmi", "--force", f"localhost/chaos/{tag}"]
                subprocess.run(rmi, env=here.env, capture_output=True, check=False)
            pair(here, rows[0], "shared base", [slow, "--jobs", "2"], [other])
            pair(here, rows[0], "--rebuild beside", [slow, "--jobs", "2"], [slow, "--rebuild"])
            gc_during(here, rows[0], slow)
        for _ in range(1 if short else 4):
            killed_under_a_waiter(here, rows[1], rng)
    return rows
