"""A fleet whose images live in a registry, without one: where each image lives, the skopeo and
buildah pull command lines, ownership of bases by shard, waiting for another shard's base, what
is pushed at once, and the merge of the shards' reports."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from test_fleet import FakeExecutor as SimulatedExecutor
from test_fleet import FakePreparer, load

from buildahpy.errors import BuildError, UsageError
from buildahpy.fleet import fleet, graph, merge, remote
from buildahpy.fleet.fleet import BUILT, FAILED, SKIPPED, UP_TO_DATE, Entry, schedule
from buildahpy.fleet.jobs import Decision, LocalImage, Waiting
from buildahpy.fleet.publish import Sent
from buildahpy.fleet.worker import Outcome
from buildahpy.host import registry
from buildahpy.plan import publish
from buildahpy.plan.publish import Publish

ROOT = Path(__file__).resolve().parent.parent


# -- where the fleet's images live -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        ("127.0.0.1:5000/team", "127.0.0.1:5000/team"),
        ("docker://registry.example.com/a/b/", "registry.example.com/a/b"),
        ("ghcr.io", "ghcr.io"),
    ],
)
def test_a_registry_prefix_is_a_host_and_path(text: str, prefix: str) -> None:
    assert publish.check_registry(text) == prefix


@pytest.mark.parametrize(
    "text", ["", "oci:/tmp/x", "127.0.0.1:5000/team/app:1", "ghcr.io/{recipe}", "/srv", "a@sha256"]
)
def test_a_registry_with_a_name_tag_or_transport_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="--registry"):
        publish.check_registry(text)


def test_home_is_prefix_recipe_and_tag_else_the_first_push() -> None:
    under = Publish(registry="127.0.0.1:5000/team", push=("docker://other/{recipe}:9",))
    assert publish.home(under, "web", "localhost/web:41") == "docker://127.0.0.1:5000/team/web:41"
    pushed = Publish(push=("docker://r.example/{recipe}:1", "docker://s.example/{recipe}:1"))
    assert publish.home(pushed, "web", "localhost/web:latest") == "docker://r.example/web:1"
    assert publish.home(Publish(), "web", "localhost/web:latest") == ""


def test_the_home_is_not_pushed_again_at_the_end() -> None:
    send = Publish(push=("docker://r/{recipe}:1", "docker://s/{recipe}:1"), outputs=("oci:/o",))
    found = publish.destinations(send, "web", up_to_date=False, skip="docker://r/web:1")
    assert found == ["oci:/o", "docker://s/web:1"]


# -- skopeo and buildah pull -----------------------------------------------------------------


def test_inspect_and_pull_argv_carry_the_access_options() -> None:
    access = {"authfile": "/a.json", "tls_verify": False, "creds": "u:p"}
    flags = ["--authfile=/a.json", "--tls-verify=false", "--creds=u:p"]
    assert registry.inspect_argv("docker://r/x:1", access) == [
        "skopeo",
        "inspect",
        "--config",
        "--raw",
        *flags,
        "docker://r/x:1",
    ]
    assert registry.pull_argv("docker://r/x:1", access) == [
        "buildah",
        "pull",
        "--quiet",
        *flags,
        "docker://r/x:1",
    ]
    none = {"authfile": "", "tls_verify": None, "creds": ""}
    assert registry.pull_argv("r/x", none) == ["buildah", "pull", "--quiet", "r/x"]


def test_the_id_is_the_digest_of_the_config_as_stored() -> None:
    raw = '{"config":{"Labels":{"io.buildahpy.inputs":"abc"}},"rootfs":{"type":"layers"}}'
    image = registry.image_of(raw)
    assert image.id == hashlib.sha256(raw.encode()).hexdigest()
    assert image.labels == {"io.buildahpy.inputs": "abc"}
    assert registry.image_of('{"config":{}}').labels == {}


@pytest.mark.parametrize(
    ("stderr", "absent"),
    [
        ('reading manifest latest in r/x: manifest unknown: manifest unknown"', True),
        ("name unknown: repository name not known to registry", True),
        ('pinging container registry r: Get "http://r/v2/": connection refused', False),
        ("unauthorized: authentication required", False),
    ],
)
def test_only_a_missing_name_or_tag_is_absent(stderr: str, absent: bool) -> None:
    assert registry.absent(stderr) is absent


# -- which shard builds a base ---------------------------------------------------------------


def test_each_base_is_owned_by_the_shard_its_name_hashes_to(tmp_path: Path) -> None:
    recipes = load(tmp_path)
    only = [r for r in recipes if r.name == "tool"]  # a selection that leaves its bases out
    owners: dict[str, list[int]] = {}
    for index in range(3):
        for node in graph.nodes_for(recipes, only, (index, 3), shared=True):
            mine = graph.shard_of(node.name, 3) == index
            if mine:
                owners.setdefault(node.name, []).append(index)
            if node.role == graph.TARGET:
                assert node.name == "tool" and mine
    # tool needs app1 and base: each is in the run of exactly the shard it hashes to
    assert sorted(owners) == ["app1", "base", "tool"]
    assert all(len(shards) == 1 for shards in owners.values())
    unshared = graph.nodes_for(recipes, only, (graph.shard_of("tool", 3), 3), shared=False)
    assert [n.name for n in unshared] == ["base", "app1", "tool"]


# -- waiting for another shard's base --------------------------------------------------------


class WaitingPreparer(FakePreparer):
    """The registry has ``base`` after ``polls`` questions (never with polls=None)."""

    def __init__(self, polls: int | None) -> None:
        super().__init__()
        self.polls, self.asked = polls, 0

    def decide(self, node: graph.Node, base_id: str | None) -> Decision:
        if node.name != "base":
            return super().decide(node, base_id)
        self.asked += 1
        if self.polls is not None and self.asked > self.polls:
            image = LocalImage("remote-base", "", 0, {})
            return Decision(up_to_date=image, inputs="0123456789abcdef", remote=True)
        waiting = Waiting("docker://r/base:latest", 0.05, "shard 1/2")
        return Decision(wait=waiting, inputs="0123456789abcdef")


class FakeExecutor(SimulatedExecutor):
    """The simulated builds; a wait with a timeout (a base is awaited) ends a build all the same."""

    def wait(self, timeout: float | None = None) -> list[tuple[str, Outcome]]:
        return super().wait()


class Recorder:
    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def started(self, entry: Entry) -> None:
        self.log.append((entry.name, "started"))

    def finished(self, entry: Entry) -> None:
        self.log.append((entry.name, entry.status))


@pytest.fixture
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet, "_REGISTRY_POLL_SECONDS", 0.01)


def test_a_waited_base_found_later_lets_its_images_build_on_its_id(
    tmp_path: Path, quick_polls: None
) -> None:
    recipes = load(tmp_path)
    preparer = WaitingPreparer(polls=3)
    executor = FakeExecutor(capacity=1)
    entries = {
        e.name: e for e in schedule(graph.closure(recipes, recipes), preparer, executor, Recorder())
    }
    assert preparer.asked == 4
    assert (entries["base"].status, entries["base"].source) == (UP_TO_DATE, fleet.REGISTRY)
    assert preparer.bases["app1"] == preparer.bases["app2"] == "remote-base"
    assert {entries[n].status for n in ("app1", "app2", "tool", "solo", "ext")} == {BUILT}


def test_a_base_never_published_fails_after_its_timeout_and_skips_its_images(
    tmp_path: Path, quick_polls: None
) -> None:
    recipes = load(tmp_path)
    executor = FakeExecutor(capacity=2)
    graph_nodes = graph.closure(recipes, recipes)
    entries = {
        e.name: e for e in schedule(graph_nodes, WaitingPreparer(None), executor, Recorder())
    }
    assert entries["base"].status == FAILED
    assert entries["base"].error == (
        "docker://r/base:latest has no image with inputs 0123456789ab after 0 s; "
        "shard 1/2 builds it (did it fail?)"
    )
    assert {entries[n].status for n in ("app1", "app2", "tool")} == {SKIPPED}
    assert "app1" not in executor.started and entries["solo"].status == BUILT


# -- pushed at once, to the fleet's home -----------------------------------------------------


def entry(tmp_path: Path, status: str, inputs: str = "d1", source: str = "") -> Entry:
    (node,) = [n for n in graph.closure(load(tmp_path), load(tmp_path)) if n.name == "solo"]
    return Entry(node, status=status, inputs=inputs, source=source)


@pytest.mark.parametrize(
    ("status", "source", "label", "push_all", "pushed"),
    [
        (BUILT, "", None, False, True),
        (UP_TO_DATE, "", "d1", False, False),  # the registry has it
        (UP_TO_DATE, "", "old", False, True),  # up to date here, not there
        (UP_TO_DATE, "", None, False, True),  # not there at all
        (UP_TO_DATE, "", "d1", True, True),
        (UP_TO_DATE, fleet.REGISTRY, "d1", False, False),  # nothing here to push
        (FAILED, "", None, False, False),
    ],
)
def test_what_goes_to_the_home_as_it_finishes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    status: str,
    source: str,
    label: str | None,
    push_all: bool,
    pushed: bool,
) -> None:
    def inspect(reference: str, access: object) -> registry.RemoteImage | None:
        labels = {"io.buildahpy.inputs": label}
        return None if label is None else registry.RemoteImage("rid", labels)

    sends: list[str] = []

    def send(recipe: str, tag: str, dest: str, settings: Publish) -> Sent:
        sends.append(dest)
        return Sent(recipe, tag, dest, digest="sha256:1")

    monkeypatch.setattr(registry, "inspect", inspect)
    monkeypatch.setattr(remote, "send", send)
    home = remote.Remote(Publish(registry="r:5000/team", push_all=push_all))
    home.push_home(entry(tmp_path, status, source=source))
    assert sends == (["docker://r:5000/team/solo:latest"] if pushed else [])
    assert home.only_there == {}  # an image on this machine is never pulled for a dependent
    other = graph.shard_of("solo", 2) ^ 1  # a shard that does not own it never pushes it
    remote.Remote(home.settings, shard=(other, 2)).push_home(entry(tmp_path, status))
    assert len(sends) == (1 if pushed else 0)


# -- the shards' reports as one --------------------------------------------------------------


def image(recipe: str, status: str, role: str = "target", **extra: object) -> dict[str, object]:
    return {
        "recipe": recipe,
        "tag": f"localhost/{recipe}:latest",
        "role": role,
        "status": status,
        "image_id": f"id-{recipe}",
        "size": 10,
        "packages": [f"{recipe}-1-1.x", "glibc-2-1.x"],
        "seconds": 1.5,
        "source": "local",
        **extra,
    }


SHARD0 = {
    "shard": "0/2",
    "images": [image("base", "built", "target"), image("app", "built")],
    "totals": {"pulls": 0, "pushes": 2, "seconds": 7.0},
}
SHARD1 = {
    "shard": "1/2",
    "images": [
        image("base", "up-to-date", "base", source="registry", pulled=True),
        image("tool", "failed"),
    ],
    "totals": {"pulls": 1, "pushes": 0, "seconds": 9.5},
}


def test_merge_keeps_one_view_per_recipe_and_adds_up_the_work() -> None:
    merged = merge.merge([SHARD0, SHARD1])
    by_recipe = {i["recipe"]: i for i in merged["images"]}
    assert list(by_recipe) == ["base", "app", "tool"]
    assert (by_recipe["base"]["status"], by_recipe["base"]["shard"]) == ("built", "0/2")
    assert [v["shard"] for v in by_recipe["base"]["shards"]] == ["0/2", "1/2"]
    totals = merged["totals"]
    assert (totals["builds"], totals["pulls"], totals["pushes"]) == (2, 1, 2)
    assert (totals["built"], totals["failed"], totals["images"]) == (2, 1, 3)
    assert (totals["seconds"], totals["shard_seconds"]) == (9.5, 16.5)
    assert totals["distinct_packages"] == 3  # base, app, glibc: a failed image counts for none


def test_merge_prints_one_row_per_recipe_and_the_fleets_work(
    capsys: pytest.CaptureFixture[str],
) -> None:

    out = io.StringIO()
    merge.print_merged(merge.merge([SHARD1, SHARD0]), out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == [
        "RECIPE",
        "TAG",
        "STATUS",
        "ROLE",
        "SHARD",
        "IMAGE",
        "ID",
        "SIZE",
        "PACKAGES",
        "SECONDS",
    ]
    assert lines[1].split()[:5] == ["base", "localhost/base:latest", "built", "target", "0/2"]
    assert lines[2].split()[:4] == ["tool", "localhost/tool:latest", "failed", "target"]
    assert lines[-1].endswith("2 shards: 2 builds, 1 pulls, 2 pushes, 9.5 s (16.5 s of all shards)")


def test_report_merge_command_writes_the_file_and_exits_1_on_a_failed_image(tmp_path: Path) -> None:
    paths = [tmp_path / "r0.json", tmp_path / "r1.json"]
    for path, data in zip(paths, (SHARD0, SHARD1), strict=True):
        path.write_text(json.dumps(data))
    argv = [sys.executable, "-m", "buildahpy", "report", "merge", *map(str, paths)]
    result = subprocess.run(
        [*argv, "-o", str(tmp_path / "all.json")], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 1, result.stderr
    assert json.loads((tmp_path / "all.json").read_text())["totals"]["builds"] == 2
    ok = subprocess.run(argv[:-1], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0 and "1 shards: 2 builds" in ok.stdout, ok.stderr
    (tmp_path / "bad.json").write_text("{")
    bad = subprocess.run(
        [*argv[:-2], str(tmp_path / "bad.json")], capture_output=True, text=True, cwd=ROOT
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith(
        f"buildahpy: report {tmp_path / 'bad.json'}: cannot read it as JSON"
    )
    assert len(bad.stderr.splitlines()) == 1


def test_a_registry_that_cannot_be_read_has_nothing_and_the_image_is_built_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def inspect(reference: str, access: object) -> registry.RemoteImage | None:
        asked.append(reference)
        raise BuildError(f"cannot read {reference}: connection refused")

    monkeypatch.setattr(registry, "inspect", inspect)
    home = remote.Remote(Publish(registry="r:5000/team"), shard=(0, 1))
    recipe = entry(tmp_path, UP_TO_DATE).node.recipe
    assert home.published(recipe, "d1") is None
    assert home.published(recipe, "d1") is None and len(asked) == 1  # asked once per run
    assert home.published(recipe, "d1", again=True) is None and len(asked) == 2


def test_the_report_says_where_each_image_came_from_and_counts_the_work(tmp_path: Path) -> None:
    here = entry(tmp_path, BUILT)
    there = entry(tmp_path, UP_TO_DATE, source=fleet.REGISTRY)
    there.node = attrs.evolve(there.node, recipe=attrs.evolve(there.node.recipe, name="other"))
    home = remote.Remote(Publish(registry="r:5000/team"), shard=(1, 2), pulled=[])
    report = {
        "images": [
            {
                "recipe": "solo",
                "size": 5,
                "own_bytes": 5,
                "pushed": [
                    {"destination": "docker://r:5000/team/solo:latest", "digest": "sha256:1"},
                    {"destination": "oci:/out/solo", "digest": "sha256:1"},
                    {"destination": "docker://s/solo:1", "digest": None},
                ],
            },
            {"recipe": "other", "size": 0, "own_bytes": 0, "pushed": []},
        ],
        "totals": {},
    }
    remote.annotate(report, [here, there], home)
    solo, other = report["images"]
    assert (solo["source"], solo["pulled"], solo["size"]) == ("local", False, 5)
    assert (other["source"], other["size"], other["own_bytes"]) == ("registry", None, None)
    assert report["totals"] == {"pulls": 0, "pushes": 1}  # an output is no push, a failure none
    assert report["shard"] == "1/2"
