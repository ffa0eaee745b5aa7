"""scripts/chaos class cache: a damaged shared cache (a pool package truncated or with a byte
flipped, a snapshot's metadata or .solv file damaged, the cache read-only or another user's)
against a warm cache, then a rebuild; and SIGKILL while the metadata snapshot is being made."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from chaos_lab import ROOT, Lab, Row, kill_session, lab, must
from latency_mirror import Mirror

Damage = Callable[[Lab], list[Path]]  # damages the warm cache; the files it damaged


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _one(here: Lab, pattern: str) -> Path:
    found = sorted(p for p in here.cache.glob(pattern) if p.is_file() and not p.is_symlink())
    if not found:
        raise SystemExit(f"chaos: no {pattern} in the warm cache {here.cache}")
    return found[0]


def _damage(pattern: str, how: Callable[[Path], None]) -> Damage:
    def damage(here: Lab) -> list[Path]:
        path = _one(here, pattern)
        how(path)
        return [path]

    return damage


POOL = "*/pool/*/packages/busybox-[0-9]*.rpm"
DAMAGE: list[tuple[str, str, Damage, bool]] = [  # (row, label, damage, in --short)
    ("pool", "busybox truncated", _damage(POOL, _truncate), True),
    ("pool", "busybox byte flipped", _damage(POOL, _flip), True),
    ("metadata", "primary flipped", _damage("*/meta/*/*/repodata/*primary.xml*", _flip), True),
    (
        "metadata",
        "repomd.xml truncated",
        _damage("*/meta/*/*/repodata/repomd.xml", _truncate),
        False,
    ),
    ("metadata", ".solv flipped", _damage("*/meta/*/**/*.solv", _flip), True),
]


@contextmanager
def _read_only(here: Lab) -> Iterator[None]:
    """A read-only bind mount over the cache: it stops root too."""
    subprocess.run(["mount", "--bind", str(here.cache), str(here.cache)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(here.cache)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(here.cache)], check=False)


@contextmanager
def _foreign(here: Lab) -> Iterator[None]:
    """The whole cache owned by another user (uid 12345)."""
    subprocess.run(["chown", "-R", "12345:12345", str(here.cache)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chown", "-R", f"{os.getuid()}:{os.getgid()}", str(here.cache)])


@contextmanager
def _no_write_bits(here: Lab) -> Iterator[None]:
    subprocess.run(["chmod", "-R", "a-w", str(here.cache)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(here.cache)], check=True)


ACCESS = [("read-only bind mount", _read_only, True), ("owned by uid 12345", _foreign, True)]
ACCESS += [("chmod a-w", _no_write_bits, False)]


def _rebuild(here: Lab, row: Row, label: str) -> subprocess.CompletedProcess[str]:
    """A rebuild after a fault: survived (a correct image, checked by the audit) or one clear
    error line; anything else is noted."""
    done = here.cli(here.recipes, "--only", "a", "--rebuild")
    row.faults += 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("buildahpy:")]
    if done.returncode == 0:
        row.survived += 1
    elif done.returncode == 1 and len(lines) == 1:
        row.clear += 1
        row.notes.append(f"{label}: {lines[0]}")
    else:
        row.notes.append(f"{label}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
    return done


def _still_damaged(row: Row, label: str, damaged: dict[Path, str]) -> None:
    """A damaged file the rebuild left in the cache under its name (the audit compares only
    pool packages and repodata with the repository's; this also covers .solv files)."""
    for path, digest in damaged.items():
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            row.cache += 1
            row.notes.append(f"{label}: still damaged: {path}")


def run_damage(here: Lab, rows: dict[str, Row], short: bool) -> None:
    for name, label, damage, in_short in DAMAGE:
        if short and not in_short:
            continue
        row = rows[name]
        must(here.cli(here.recipes, "--only", "a"), "warming the cache")
        damaged = {p: "" for p in damage(here)}
        damaged = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in damaged}
        _rebuild(here, row, label)
        _still_damaged(row, label, damaged)
        here.audit(row)


def run_access(here: Lab, row: Row, short: bool) -> None:
    for label, fault, in_short in ACCESS:
        if short and not in_short:
            continue
        must(here.cli(here.recipes, "--only", "a"), "warming the cache")
        with fault(here):
            done = _rebuild(here, row, label)
        said = [line for line in done.stderr.splitlines() if "shared cache" in line]
        row.notes += [f"{label}: {' '.join(said[0].split())}"] if said else []
        here.audit(row)


def makecache_seconds(here: Lab) -> float:
    """A cold run: how long its snapshot is being made (from its staging's appearance to its
    publication, polled), for drawing a kill's moment within that phase."""
    argv = here.argv(here.recipes, "--only", "a", "--rebuild")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = subprocess.Popen(argv, env=here.env, cwd=ROOT, **quiet)  # type: ignore[call-overload]
    started = time.monotonic()
    staged = published = 0.0
    while proc.poll() is None and not published:
        now = time.monotonic() - started
        if not staged and any(here.cache.glob("*/tmp/meta-*")):
            staged = now
        if any(here.cache.glob("*/meta/*")):
            published = now
        time.sleep(0.02)
    proc.wait(timeout=300)
    if not staged or not published or proc.returncode:
        raise SystemExit(f"chaos: the cold build made no metadata snapshot ({proc.returncode})")
    return published - staged


def _wait_for_staging(here: Lab, proc: subprocess.Popen[str]) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if any(here.cache.glob("*/tmp/meta-*")):
            return True
        time.sleep(0.01)
    return False


def run_kill(here: Lab, row: Row, rng: random.Random, count: int, making: float) -> None:
    """The first build of a run, on an empty cache, killed while its snapshot is being made:
    ``making`` seconds from its staging's appearance, a kill's moment drawn within 90% of it.
    A kill that missed the window (the snapshot was made already) counts as no fault and is
    tried again, up to 3 times."""
    for _ in range(count):
        for _attempt in range(3):
            if kill_once(here, row, rng.uniform(0.0, making * 0.9)):
                break


def kill_once(here: Lab, row: Row, delay: float) -> bool:
    """One kill ``delay`` s after the staging appeared, its audit and the next build; whether
    the kill fell while the snapshot was being made."""
    subprocess.run(["rm", "-rf", str(here.cache)], check=True)
    args = [str(here.recipes), "--only", "a", "--rebuild"]
    proc = here.start(*args)
    staging = _wait_for_staging(here, proc)
    time.sleep(delay)
    injected = staging and any(here.cache.glob("*/tmp/meta-*")) and proc.poll() is None
    row.faults += 1 if injected else 0
    kill_session(proc)
    if not injected:
        row.notes.append(f"killed {delay:.2f} s in, when no snapshot was being made")
    half = [p for p in here.cache.glob("*/meta/*") if not any(p.rglob("repomd.xml"))]
    here.audit(row)
    row.cache += len(half)
    row.notes += [f"half snapshot published: {p}" for p in half]
    after = here.cli(*args)
    if after.returncode == 0:
        row.survived += 1 if injected else 0
    else:
        row.notes.append(f"next build failed: {after.stderr.strip()[-300:]}")
    here.audit(row)
    return injected


def run_cache(fixture: Path, rng: random.Random, short: bool) -> list[Row]:
    rows = {
        "pool": Row("damaged cache, pool"),
        "metadata": Row("damaged cache, metadata"),
        "access": Row("cache not writable"),
        "kill": Row("kill -9, making the snapshot"),
    }
    with lab(fixture, "cache") as here, Mirror(fixture, 0.0) as mirror:
        # over http: a file:// repository's packages are used in place, never downloaded
        here.repo_file = mirror.repo_file(here.base / "mirror.repo", fixture / "fixture.repo")
        making = makecache_seconds(here)  # the first build
        here.mounts_before = here.mounts()
        run_damage(here, rows, short)
        run_access(here, rows["access"], short)
        run_kill(here, rows["kill"], rng, 1 if short else 6, making)
    return list(rows.values())
