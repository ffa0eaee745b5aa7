"""scripts/chaos class mirror: a local mirror that misanswers some requests, stalls, or syncs
to the repository's next revision between the metadata fetch and the package downloads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from chaos_lab import Lab, Row, clear_error, lab, must
from latency_mirror import Fault, Mirror
from repo_revision import next_revision

# Every build through the mirror gives up a download that sends < 1 kB/s for this long (dnf's
# default 30 s per try would make a stall cost minutes); a transient stall lasts longer.
DNF_TIMEOUT = "2"
STALL_SECONDS = 5.0
FOREVER = 600.0  # a stall that outlasts every try (the mirror's stop ends it)


@dataclass(frozen=True)
class Case:
    key: str  # what the fault names: busybox (its rpm), primary, repomd.xml; sync: a sync
    kind: str
    count: int
    transient: bool
    short: bool = False  # also in --short
    seconds: float = 0.0  # how long a stall lasts

    @property
    def label(self) -> str:
        return "mirror sync" if self.kind == "sync" else f"{self.kind} x{self.count} on {self.key}"


MIRROR_CASES = [
    Case("busybox", "503", 2, True, short=True),
    Case("busybox", "reset", 2, True),
    Case("repomd.xml", "503", 1, True),
    Case("busybox", "truncate", 1, True),
    Case("busybox", "flip", 1, True),
    Case("busybox", "stall", 1, True, short=True, seconds=STALL_SECONDS),
    Case("busybox", "503", 1000, False),
    Case("busybox", "reset", 1000, False),
    Case("busybox", "flip", 1000, False, short=True),
    Case("primary", "flip", 1000, False),
    Case("repomd.xml", "reset", 1000, False),
    Case("busybox", "stall", 1000, False, short=True, seconds=FOREVER),
    Case("sync", "sync", 1, False, short=True),
]
# "(2 download retries)" on a dnf line, or the run's own revision read that was retried
_RETRIES = re.compile(r"\((\d+) download retr|retries=(\d+)")


def suffix_path(fixture: Path, key: str) -> str:
    """The fixture's file a case names: a package's file name, or a metadata file's."""
    if key == "busybox":
        return next((fixture / "Packages").glob("busybox-[0-9]*.rpm")).name
    if key == "primary":  # gzip or zstd, as the host's createrepo_c writes it
        return next((fixture / "repodata").glob("*-primary.xml*")).name
    return key


def retries(stderr: str) -> int:
    return sum(int(a or b) for a, b in _RETRIES.findall(stderr))


def tag_id(here: Lab) -> str:
    argv = ["buildah", "inspect", "--type=image", "--format={{.FromImageID}}", "localhost/chaos/a"]
    return here.tool(*argv)


def judge(row: Row, case: Case, done: subprocess.CompletedProcess[str], names: list[str]) -> None:
    """Survived (with the retries said), a clear error, or a note saying why neither."""
    if case.transient and done.returncode == 0:
        if retries(done.stderr) > 0:
            row.survived += 1
        else:
            row.notes.append(f"{case.label}: built, but the run does not say dnf retried")
    elif not case.transient and done.returncode == 1:
        why = clear_error(done.stderr, names)
        if case.kind == "stall" and not why and "timed out" not in done.stderr:
            why = f"the error does not say the download timed out: {done.stderr[-300:]}"
        if case.kind == "sync" and not why and "changed during the build" not in done.stderr:
            why = f"the error does not say the repository changed: {done.stderr[-300:]}"
        row.clear += 0 if why else 1
        row.notes += [f"{case.label}: {why}"] if why else []
    else:
        row.notes.append(f"{case.label}: exit {done.returncode}: {done.stderr.strip()[-300:]}")


def sync_build(
    here: Lab, mirror: Mirror, repo: Path
) -> tuple[subprocess.CompletedProcess[str], str, str, bool]:
    """The mirror serves the next revision from the first package request on: dnf's metadata
    is then the old revision's, and the package it asks for is gone."""
    shutil.rmtree(here.base / "next", ignore_errors=True)
    old, new = next_revision(here.fixture, here.base / "next")
    here.sources.append(here.base / "next")
    mirror.sync_to(here.base / "next")
    argv = ["--only", "a", "--rebuild", "--dnf-timeout", DNF_TIMEOUT]
    done = here.cli(here.recipes, *argv, repo_file=repo)
    return done, old, new, mirror.sync is None


def after_sync(here: Lab, mirror: Mirror, repo: Path, new: str) -> str:
    """The next build reads the new revision and installs the new package; '' or why not."""
    again = here.cli(here.recipes, "--only", "a", "--rebuild", repo_file=repo)
    mirror.directory = here.fixture  # the next case's mirror serves the fixture again
    if again.returncode != 0:
        return f"the next build failed: {again.stderr.strip()[-300:]}"
    image = json.loads(here.tool("buildah", "inspect", "--type=image", "localhost/chaos/a"))
    labels = str(image["OCIv1"]["config"].get("Labels"))
    if new.removesuffix(".rpm") not in labels:
        return f"the next build did not install {new}"
    return ""


def run_mirror(fixture: Path, short: bool) -> list[Row]:
    rows = [Row("mirror, transient"), Row("mirror, permanent")]
    with lab(fixture, "mirror") as here, Mirror(fixture, 0.0) as mirror:
        repo = mirror.repo_file(here.base / "mirror.repo", fixture / "fixture.repo")
        must(here.cli(here.recipes, "--only", "a"), "the first build")
        before = tag_id(here)
        here.mounts_before = here.mounts()
        for case in [c for c in MIRROR_CASES if c.short or not short]:
            row = rows[0] if case.transient else rows[1]
            shutil.rmtree(here.cache, ignore_errors=True)  # every download goes to the mirror
            if case.kind == "sync":
                done, old, new, synced = sync_build(here, mirror, repo)
                row.faults += 1 if synced else 0
            else:
                fault = Fault(suffix_path(fixture, case.key), case.kind, case.count, case.seconds)
                mirror.faults[:] = [fault]
                argv = ["--only", "a", "--rebuild", "--dnf-timeout", DNF_TIMEOUT]
                done = here.cli(here.recipes, *argv, repo_file=repo)
                mirror.faults.clear()
                row.faults += 1 if fault.injected else 0
                if not fault.injected:
                    row.notes.append(f"{case.label}: never requested")
                else:
                    judge(row, case, done, [fault.suffix, fault.suffix.rsplit("-", 2)[0]])
            if done.returncode != 0 and tag_id(here) != before:
                row.tags += 1
                row.notes.append(f"{case.label}: a failed build moved the tag")
            if case.kind == "sync":  # a clear error, and the next build works
                why = after_sync(here, mirror, repo, new)
                row.notes += [f"{case.label}: {why}"] if why else []
                if not why:
                    judge(row, case, done, [old, old.rsplit("-", 2)[0]])
            before = tag_id(here)
            here.audit(row)
    return rows
