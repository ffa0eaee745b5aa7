"""scripts/chaos class mirror: a local mirror that misanswers some requests."""

from __future__ import annotations

import shutil
from pathlib import Path

from chaos_lab import Row, clear_error, lab, must
from latency_mirror import Fault, Mirror

MIRROR_CASES = [  # (path suffix, kind, count, transient)
    ("busybox", "503", 2, True),
    ("busybox", "reset", 2, True),
    ("repomd.xml", "503", 1, True),
    ("busybox", "truncate", 1, True),
    ("busybox", "flip", 1, True),
    ("busybox", "503", 1000, False),
    ("busybox", "reset", 1000, False),
    ("busybox", "flip", 1000, False),
    ("primary", "flip", 1000, False),
    ("repomd.xml", "reset", 1000, False),
]


def suffix_path(fixture: Path, key: str) -> str:
    """The fixture's file a case names: a package's file name, or a metadata file's."""
    if key == "busybox":
        return next((fixture / "Packages").glob("busybox-[0-9]*.rpm")).name
    if key == "primary":  # gzip or zstd, as the host's createrepo_c writes it
        return next((fixture / "repodata").glob("*-primary.xml*")).name
    return key


def run_mirror(fixture: Path, short: bool) -> list[Row]:
    rows = [Row("mirror, transient"), Row("mirror, permanent")]
    with lab(fixture, "mirror") as here, Mirror(fixture, 0.0) as mirror:
        repo = mirror.repo_file(here.base / "mirror.repo", fixture / "fixture.repo")
        must(here.cli(here.recipes, "--only", "a"), "the first build")
        before = here.tool(
            "buildah", "inspect", "--type=image", "--format={{.FromImageID}}", "localhost/chaos/a"
        )
        here.mounts_before = here.mounts()
        cases = MIRROR_CASES[::2] if short else MIRROR_CASES
        for key, kind, count, transient in cases:
            row = rows[0] if transient else rows[1]
            shutil.rmtree(here.cache, ignore_errors=True)  # every download goes to the mirror
            fault = Fault(suffix_path(fixture, key), kind, count)
            mirror.faults[:] = [fault]
            done = here.cli(here.recipes, "--only", "a", "--rebuild", repo_file=repo)
            mirror.faults.clear()
            row.faults += 1 if fault.injected else 0
            label = f"{kind} x{count} on {fault.suffix}"
            if not fault.injected:
                row.notes.append(f"{label}: never requested")
            elif transient and done.returncode == 0:
                row.survived += 1
            elif not transient and done.returncode == 1:
                why = clear_error(done.stderr, [fault.suffix, fault.suffix.rsplit("-", 2)[0]])
                row.clear += 0 if why else 1
                row.notes += [f"{label}: {why}"] if why else []
            else:
                row.notes.append(f"{label}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
            now = here.tool(
                "buildah",
                "inspect",
                "--type=image",
                "--format={{.FromImageID}}",
                "localhost/chaos/a",
            )
            if done.returncode != 0 and now != before:
                row.tags += 1
                row.notes.append(f"{label}: a failed build moved the tag")
            before = now
            here.audit(row)
    return rows
