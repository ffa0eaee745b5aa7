"""A fleet spread over machines through a registry, for real: each "machine" is a storage of its
own (graphroot, runroot and download cache), all share one docker-registry on 127.0.0.1. The two
shards together build and push every image exactly once, each base in the shard it hashes to,
the other one pulling it; a rerun on empty storages builds and pulls nothing; an edited recipe
is the only one rebuilt. Counted from the shards' JSON reports and their merge."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT, Builder
from test_publish_real import start_registry

from buildahpy.fleet.graph import shard_of

pytestmark = pytest.mark.integration

BASES = """
from buildahpy import recipe

@recipe("localhost/reg-base")
def reg_base(image):
    image.install("glibc-minimal-langpack", "bash", "coreutils-single")

@recipe("localhost/reg-tool", base=reg_base)
def reg_tool(image):
    image.install("busybox")

@recipe("localhost/reg-box", base=reg_tool)
def reg_box(image):
    image.install("zlib")

@recipe("localhost/reg-solo")
def reg_solo(image):
    image.install("busybox")
"""

PCRE = """
from buildahpy import recipe

@recipe("localhost/reg-pcre", base="localhost/reg-base")
def reg_pcre(image):
    image.install("pcre2")
"""

NAMES = ["reg_base", "reg_tool", "reg_box", "reg_solo", "reg_pcre"]

Machine = Callable[[str], Builder]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "registry").mkdir()
    yield from start_registry(tmp_path / "registry")


@pytest.fixture
def machine(builder: Builder, tmp_path: Path) -> Iterator[Machine]:
    """A fresh machine each call: its own empty storage and download cache."""
    made: list[tuple[Builder, Path]] = []

    def make(name: str) -> Builder:
        base = tmp_path / name
        base.mkdir()
        conf = base / "storage.conf"
        conf.write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{base}/graph"\nrunroot = "{base}/run"\n'
        )
        env = dict(builder.env, CONTAINERS_STORAGE_CONF=str(conf))
        env["BUILDAHPY_CACHE_DIR"] = str(base / "cache")
        made.append((Builder(env, builder.repo_file, tmp_path), base))
        return made[-1][0]

    yield make
    leftovers = {str(base): one.containers() for one, base in made}
    for one, base in made:
        subprocess.run(["buildah", "rmi", "--all", "--force"], env=one.env, capture_output=True)
        subprocess.run(["umount", "-R", f"{base}/graph/overlay"], capture_output=True)
    assert all(not names for names in leftovers.values()), leftovers


def test_the_fleet_splits_as_the_test_expects() -> None:
    """Each shard owns a base the other needs (reg_base: 0, reg_tool: 1, reg_box on reg_tool: 0)."""
    assert [shard_of(name, 2) for name in NAMES] == [0, 1, 0, 1, 1]


def run_shards(
    machine: Machine, files: list[Path], registry: str, label: str, *extra: str
) -> list[dict]:
    """Both shards at once, each on a fresh machine; their reports (with the table printed,
    under "stdout")."""
    machines = [machine(f"{label}-{index}") for index in range(2)]
    reports = [machines[0].tmp_path / f"{label}-{index}.json" for index in range(2)]

    def shard(index: int) -> subprocess.CompletedProcess[str]:
        return machines[index].cli(
            *files,
            "--shard",
            f"{index}/2",
            "--registry",
            f"{registry}/team",
            "--tls-verify",
            "false",
            "--report",
            reports[index],
            *extra,
            timeout=600,
        )

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(shard, range(2)))
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
    found = [json.loads(path.read_text()) for path in reports]
    for data, result in zip(found, results, strict=True):
        data["stdout"] = result.stdout
    return found


def work(reports: list[dict], what: str) -> list[str]:
    """Which recipes were built, pulled or pushed, by all shards together."""
    found = []
    for data in reports:
        for image in data["images"]:
            if what == "built" and image["status"] == "built":
                found.append(image["recipe"])
            if what == "pulled" and image["pulled"]:
                found.append(image["recipe"])
            if what == "pushed":
                found += [image["recipe"] for sent in image["pushed"] if sent["digest"]]
    return sorted(found)


def test_two_shards_build_and_push_the_fleet_once_and_a_rerun_builds_nothing(
    builder: Builder, machine: Machine, registry: str, tmp_path: Path
) -> None:
    files = [builder.recipe("bases.py", BASES), builder.recipe("pcre.py", PCRE)]
    first = run_shards(machine, files, registry, "first")
    assert work(first, "built") == sorted(NAMES)  # every image, every base, once in all
    assert work(first, "pushed") == sorted(NAMES)
    # shard 1 pulls the base shard 0 built; shard 0 the tool shard 1 built for its box
    assert work(first, "pulled") == ["reg_base", "reg_tool"]
    assert [data["shard"] for data in first] == ["0/2", "1/2"]
    assert {d["totals"]["pulls"] for d in first} == {1}
    for data in first:
        for image in data["images"]:
            if image["status"] == "built":
                served = builder.tool(
                    "skopeo",
                    "inspect",
                    "--tls-verify=false",
                    f"docker://{registry}/team/{image['recipe']}:latest",
                )
                labels = json.loads(served)["Labels"]
                assert labels["io.buildahpy.inputs"] == image["inputs"], image["recipe"]

    again = run_shards(machine, files, registry, "again")
    assert work(again, "built") == work(again, "pulled") == work(again, "pushed") == []
    statuses = {(i["status"], i["source"]) for data in again for i in data["images"]}
    assert statuses == {("up-to-date", "registry")}
    rows = [line.split() for data in again for line in data["stdout"].splitlines()[1:8]]
    assert sum(row[2:4] == ["up-to-date", "(registry)"] for row in rows) == 7, again[0]["stdout"]

    files[1].write_text(PCRE.replace('"pcre2"', '"pcre2", "zlib"'))
    edited = run_shards(machine, files, registry, "edited")
    assert work(edited, "built") == work(edited, "pushed") == ["reg_pcre"]
    assert work(edited, "pulled") == ["reg_base"]  # the one base the one build needs

    merged_file = tmp_path / "fleet.json"
    shard_files = [tmp_path / f"first-{index}.json" for index in range(2)]
    merge = [sys.executable, "-m", "buildahpy", "report", "merge", *map(str, shard_files)]
    merged = subprocess.run(
        [*merge, "-o", str(merged_file)],
        env=builder.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert merged.returncode == 0, merged.stderr
    totals = json.loads(merged_file.read_text())["totals"]
    assert (totals["builds"], totals["pulls"], totals["pushes"]) == (5, 2, 5)
    assert totals["images"] == 5 and totals["built"] == 5
    assert "5 builds, 2 pulls, 5 pushes" in merged.stdout
    assert [line.split()[0] for line in merged.stdout.splitlines()[1:6]] == NAMES


def test_a_base_nobody_publishes_fails_after_the_timeout_and_skips_its_images(
    builder: Builder, machine: Machine, registry: str
) -> None:
    files = [builder.recipe("bases.py", BASES)]
    lonely = machine("lonely")
    result = lonely.cli(
        *files,
        "--only",
        "reg_tool",
        "--shard",
        "1/2",
        "--registry",
        f"{registry}/team",
        "--tls-verify",
        "false",
        "--base-timeout",
        "3",
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy:")]
    head = f"buildahpy: reg_base: docker://{registry}/team/reg_base:latest has no image with inputs"
    assert len(errors) == 1 and errors[0].startswith(head), result.stderr
    assert errors[0].endswith(" after 3 s; shard 0/2 builds it (did it fail?)"), errors
    rows = {line.split()[0]: line.split()[2] for line in result.stdout.splitlines()[1:3]}
    assert rows == {"reg_base": "failed", "reg_tool": "skipped"}
