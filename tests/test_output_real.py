"""What a user sees on stderr, in real builds: the default lines, -v (commands and dnf's own
output, a recipe's traceback), -q, --log-format json (every line a JSON object), --jobs N, and
a dry run whose dnf command lines are the ones the build then runs."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import Builder

pytestmark = pytest.mark.integration

GOOD = """
from buildahpy import recipe

@recipe("localhost/out-good")
def out_good(image):
    image.install("busybox")
    image.mkdir("/etc")  # busybox alone may bring none
    image.write_file("/etc/motd", "hi\\n")
    image.config(entrypoint=["/usr/sbin/busybox", "sh"])
"""
BAD = """
from buildahpy import recipe

def helper():
    raise ValueError("the recipe broke")

@recipe("localhost/out-bad")
def out_bad(image):
    image.install("busybox")
    helper()
"""
STEP = re.compile(r"^out_good  dnf install +\d+ packages? \(busybox\)  \d+\.\d s$")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def table_size(stdout: str, recipe: str) -> str:
    """The SIZE column of ``recipe``'s row, e.g. ``2.37 MB``."""
    header, *rows = stdout.splitlines()
    start = header.index("SIZE")
    row = next(line for line in rows if line.startswith(f"{recipe} "))
    return row[start:].split("  ")[0].strip()


def build(builder: Builder, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    name = "good.py" if body is GOOD else "bad.py"
    return builder.cli(builder.recipe(name, body), "--rebuild", *args)


def test_the_default_is_one_line_per_working_step_then_the_sizes(builder: Builder) -> None:
    result = build(builder, GOOD)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert not TIMESTAMP.search(result.stderr), result.stderr
    assert not [line for line in lines if " start " in f" {line} " or "step=" in line], lines
    assert any(STEP.match(line) for line in lines), lines
    assert any(re.match(r"^out_good  commit +\d+\.\d s$", line) for line in lines), lines
    report = next(line for line in lines if line.startswith("out_good  localhost/out-good:latest:"))
    size = table_size(result.stdout, "out_good")
    assert report.endswith(f": {size}, 3 packages"), (report, result.stdout)
    # the run's own step (once per release, when the repositories changed), then the build's
    assert all(line.startswith(("out_good  ", "refresh metadata  ")) for line in lines), lines
    assert len(lines) <= 12, lines
    assert result.stdout.startswith("RECIPE ")
    assert "total: 1 image (1 built)" in result.stdout


def test_verbose_shows_each_command_and_dnfs_own_output(builder: Builder) -> None:
    result = build(builder, GOOD, "-v")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    commands = [line.split("$ ", 1)[1] for line in lines if " out_good  $ " in line]
    assert any(" install " in cmd and "--installroot=" in cmd for cmd in commands), commands
    dnf_out = [line for line in lines if re.search(r" dnf5?\| ", line)]
    # dnf's transaction table, from its stdout, as it ran
    assert any("busybox" in line and "x86_64" in line for line in dnf_out), dnf_out
    assert any(re.search(r"Install(ing)?\b", line) for line in dnf_out), dnf_out
    assert any(" out_good  start  step='dnf install'" in line for line in lines), lines


def test_quiet_prints_only_the_table(builder: Builder) -> None:
    result = build(builder, GOOD, "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("RECIPE ")


def test_json_makes_every_stderr_line_an_object(builder: Builder) -> None:
    report = builder.tmp_path / "report.json"
    result = build(builder, GOOD, "--log-format", "json", "--report", str(report))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert all(isinstance(event, dict) and "event" in event for event in events)
    steps = [e for e in events if e["event"] == "step" and e["step"] == "dnf install"]
    assert steps and steps[0]["recipe"] == "out_good" and steps[0]["seconds"] >= 0
    (sizes,) = [e for e in events if e["event"] == "size report"]
    written = json.loads(report.read_text())["images"][0]
    assert sizes["size"] == written["size"] and sizes["packages"] == len(written["packages"])
    assert events[-1]["event"] == "summary" and events[-1]["totals"]["built"] == 1
    assert events[-1]["images"][0]["size"] == written["size"]
    assert result.stdout.startswith("RECIPE ")  # stdout keeps the table as text


def test_a_failing_recipe_is_one_line_and_its_traceback_only_with_v(builder: Builder) -> None:
    plain = build(builder, BAD)
    assert plain.returncode == 1
    errors = [line for line in plain.stderr.splitlines() if line.startswith("buildahpy: ")]
    where = builder.tmp_path / "bad.py"
    assert errors == [f"buildahpy: out_bad: {where}:5: ValueError: the recipe broke"], errors
    assert "Traceback" not in plain.stderr
    verbose = build(builder, BAD, "-v")
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert 'bad.py", line 10, in out_bad' in verbose.stderr, verbose.stderr
    assert verbose.stderr.splitlines()[-1] == errors[0]
    quiet = build(builder, BAD, "-q")
    assert quiet.returncode == 1 and quiet.stderr.splitlines() == errors


def test_json_failures_are_objects_too(builder: Builder) -> None:
    failed = build(builder, BAD, "--log-format", "json", "-v")
    assert failed.returncode == 1
    events = [json.loads(line) for line in failed.stderr.splitlines()]
    (error,) = [e for e in events if e["event"] == "error"]
    assert error["level"] == "error" and "ValueError: the recipe broke" in error["message"]
    assert any("Traceback" in e.get("exception", "") for e in events)
    assert events[-1]["event"] == "summary" and events[-1]["totals"]["failed"] == 1
    missing = builder.cli(builder.tmp_path / "nope.py", "--log-format", "json")
    assert missing.returncode == 2
    (only,) = [json.loads(line) for line in missing.stderr.splitlines()]
    assert only["event"] == "error" and "recipe file does not exist" in only["message"]
    usage = builder.cli("--log-format", "json", "--jobs", "x", repo=False, releasever=None)
    assert usage.returncode == 2
    (bad_option,) = [json.loads(line) for line in usage.stderr.splitlines()]
    assert "--jobs" in bad_option["message"]


def test_parallel_builds_prefix_every_line_with_their_recipe(builder: Builder) -> None:
    second = GOOD.replace("out-good", "out-other").replace("out_good", "out_other")
    files = [builder.recipe("good.py", GOOD), builder.recipe("other.py", second)]
    result = builder.cli(*files, "--rebuild", "--jobs", "2", "-v")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    stamped = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (out_good|out_other|podman[|!]) ")
    assert all(stamped.match(line) for line in lines), [
        line for line in lines if not stamped.match(line)
    ]
    assert any(re.search(r"out_other  dnf5?\| ", line) for line in lines)
    as_json = builder.cli(*files, "--rebuild", "--jobs", "2", "--log-format", "json", "-v")
    assert as_json.returncode == 0, as_json.stderr
    events = [json.loads(line) for line in as_json.stderr.splitlines()]
    assert {e.get("recipe") for e in events if e["event"] == "step"} == {"out_good", "out_other"}


def logged_dnf(stderr: str) -> tuple[list[list[str]], str]:
    """The dnf install command lines a -v build logged, with its private paths put back as
    the dry run's placeholders, and the dnf.conf it logged."""
    commands, conf, mountpoint = [], "", ""
    for line in stderr.splitlines():
        text = line.split("out_good  ", 1)[-1]
        if text.startswith("mounted "):
            mountpoint = re.search(r"mountpoint=(\S+)", text)[1]  # type: ignore[index]
        if text.startswith("dnf.conf: "):
            conf = text
        if text.startswith("$ ") and " install " in text and "--installroot=" in text:
            commands.append(shlex.split(text[2:]))
    placed = []
    for argv in commands:
        workdir = next(a for a in argv if a.startswith("--config="))[len("--config=") :]
        workdir = str(Path(workdir).parent)
        cachedir = next((a.split("=", 2)[2] for a in argv if "setopt=cachedir=" in a), None)
        fixed = [a.replace(mountpoint, "<mountpoint>").replace(workdir, "<workdir>") for a in argv]
        placed.append([a.replace(cachedir, "<cachedir>") if cachedir else a for a in fixed])
    return placed, conf


def test_the_dry_run_prints_the_dnf_commands_the_build_runs(builder: Builder) -> None:
    path = builder.recipe("good.py", GOOD.replace('"busybox"', '"busybox", "coreutils-single"'))
    dry = builder.cli(path, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    printed = [
        shlex.split(line.strip())
        for line in dry.stdout.splitlines()
        if " install " in line and "--installroot=" in line and "# if no" not in line
    ]
    conf = next(line.strip() for line in dry.stdout.splitlines() if "dnf.conf: " in line)
    real = builder.cli(path, "--rebuild", "-v")
    assert real.returncode == 0, real.stderr
    ran, logged_conf = logged_dnf(real.stderr)
    # the build's first transaction is the recipe's; the release package may follow
    assert printed and ran[: len(printed)] == printed, (printed, ran)
    assert any(a.startswith("--setopt=excludepkgs=") for a in printed[0]), printed
    assert "--setopt=keepcache=True" in printed[0]
    assert logged_conf == conf
