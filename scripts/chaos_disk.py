"""scripts/chaos class disk: the cache directory on a small filesystem."""

from __future__ import annotations

import subprocess
from pathlib import Path

from chaos_lab import BIG, Row, lab
from latency_mirror import Mirror


def run_disk(fixture: Path) -> list[Row]:
    row = Row("disk full, cache on tmpfs")
    with lab(fixture, "disk") as here, Mirror(fixture, 0.0) as mirror:
        # over http: a file:// repository's packages are used in place, never downloaded
        here.repo_file = mirror.repo_file(here.base / "mirror.repo", fixture / "fixture.repo")
        small = here.base / "small-cache"
        small.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(small)], check=True)
        try:
            here.env["BUILDAHPY_CACHE_DIR"] = str(small)
            here.cache = small
            big = here.base / "big.py"
            big.write_text(BIG)
            here.mounts_before = here.mounts()
            done = here.cli(big)
            row.faults += 1
            lines = [line for line in done.stderr.splitlines() if line.startswith("buildahpy:")]
            if (
                done.returncode != 0
                and len(lines) == 1
                and "space" in lines[0]
                and str(small) in lines[0]
            ):
                row.clear += 1
            else:
                row.notes.append(f"exit {done.returncode}: {done.stderr.strip()[-400:]}")
            names = here.tool("buildah", "images", "--format", "{{.Name}}:{{.Tag}}").split()
            row.tags += sum(1 for n in names if "big" in n)
            here.audit(row)
            after = here.cli(here.recipes, "--only", "a")
            if after.returncode != 0:
                row.notes.append(f"next small build failed: {after.stderr.strip()[-300:]}")
                row.clear -= 1 if row.clear else 0
            here.audit(row)
        finally:
            subprocess.run(["buildah", "rm", "--all"], env=here.env, capture_output=True)
            subprocess.run(["umount", "-l", str(small)], capture_output=True, check=False)
    return [row]
