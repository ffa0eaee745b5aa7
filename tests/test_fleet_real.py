"""A real fleet: a base, several images on it and one broken, built with real buildah and dnf."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, Builder, dnf_flavour, fixture_nevra
from proc_helpers import descendants

pytestmark = pytest.mark.integration

NEVRA = re.compile(r"^[\w.+-]+-[\w.+~^]+-[\w.+~^]+\.(x86_64|aarch64|noarch|i686|ppc64le|s390x)$")

BASE = """
from buildahpy import recipe

@recipe("localhost/fleet-base")
def fleet_base(image):
    image.install("glibc-minimal-langpack", "bash", "coreutils-single")
"""

APPS = """
from buildahpy import recipe

@recipe("localhost/fleet-busybox", base="localhost/fleet-base")
def fleet_busybox(image):
    image.install("busybox")

@recipe("localhost/fleet-zlib", base="localhost/fleet-base")
def fleet_zlib(image):
    image.install("zlib")
    image.write_file("/etc/motd", "zlib on the base\\n")
"""

BROKEN = """
from buildahpy import recipe

@recipe("localhost/fleet-broken", base="localhost/fleet-base")
def fleet_broken(image):
    image.install("needs-missing")
"""

MORE = """
from buildahpy import recipe

@recipe("localhost/fleet-pcre", base="localhost/fleet-base")
def fleet_pcre(image):
    image.install("pcre2")

@recipe("localhost/fleet-solo")
def fleet_solo(image):
    image.install("busybox")
"""


OTHER = """
from buildahpy import recipe

@recipe("localhost/fleet2-base")
def fleet2_base(image):
    image.install("glibc-minimal-langpack", "bash", "coreutils-single")

@recipe("localhost/fleet2-busybox", base=fleet2_base)
def fleet2_busybox(image):
    image.install("busybox")

@recipe("localhost/fleet2-pcre", base=fleet2_base)
def fleet2_pcre(image):
    image.install("pcre2", "zlib")

@recipe("localhost/fleet2-solo")
def fleet2_solo(image):
    image.install("busybox", "zlib")
"""


def fleet_files(builder: Builder, broken: bool = True) -> list[Path]:
    """base.py, apps.py (two images on the base), more.py (one on it, one alone), broken.py."""
    files = [
        builder.recipe("base.py", BASE),
        builder.recipe("apps.py", APPS),
        builder.recipe("more.py", MORE),
    ]
    return [*files, builder.recipe("broken.py", BROKEN)] if broken else files


@pytest.fixture
def fleet(builder: Builder, tmp_path: Path) -> Builder:
    """The builder with a shared cache of its own (never the host's /var/cache/buildahpy)."""
    builder.env = dict(builder.env, BUILDAHPY_CACHE_DIR=str(tmp_path / "cache"))
    return builder


def report_of(builder: Builder, *args: str | Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    path = builder.tmp_path / "report.json"
    path.unlink(missing_ok=True)
    result = builder.cli(*args, "--report", path)
    return result, {image["recipe"]: image for image in json.loads(path.read_text())["images"]}


def diff_ids(builder: Builder, tag: str) -> list[str]:
    return builder.inspect(tag)["OCIv1"]["rootfs"]["diff_ids"]


def log_index(stderr: str, recipe: str, event: str = "") -> int:
    """Where the recipe's first line (with ``event``: its first such line) is on stderr."""
    for index, line in enumerate(stderr.splitlines()):
        if event == "error" and line.startswith(f"buildahpy: {recipe}: "):
            return index  # a build that failed before any step line
        if line.startswith(f"{recipe}  ") and (not event or line.split()[1] == event):
            return index
    raise AssertionError(f"no '{event}' line for {recipe} in:\n{stderr}")


def test_a_fleet_builds_bases_first_shares_their_layers_and_goes_past_failures(
    fleet: Builder,
) -> None:
    result, images = report_of(fleet, *fleet_files(fleet), "--jobs", "2")
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy:")]
    assert len(errors) == 1 and errors[0].startswith("buildahpy: fleet_broken: "), result.stderr
    assert "nothing provides does-not-exist-anywhere" in errors[0]
    assert {name: image["status"] for name, image in images.items()} == {
        "fleet_base": "built",
        "fleet_busybox": "built",
        "fleet_zlib": "built",
        "fleet_broken": "failed",
        "fleet_pcre": "built",
        "fleet_solo": "built",
    }
    for app in ("fleet_busybox", "fleet_zlib", "fleet_broken", "fleet_pcre"):
        first = log_index(result.stderr, app, "error" if app == "fleet_broken" else "")
        assert log_index(result.stderr, "fleet_base", "built") < first
    # the app's lower layers are the base's layers, and it adds exactly one
    base_layers = diff_ids(fleet, "localhost/fleet-base:latest")
    for tag in ("localhost/fleet-busybox:latest", "localhost/fleet-zlib:latest"):
        layers = diff_ids(fleet, tag)
        assert layers[:-1] == base_layers and len(layers) == len(base_layers) + 1, tag
    assert diff_ids(fleet, "localhost/fleet-solo:latest")[0] not in base_layers
    # dnf installed only what the base lacked
    busybox = images["fleet_busybox"]
    assert [p.rsplit("-", 2)[0] for p in busybox["own_packages"]] == ["busybox"]
    assert set(images["fleet_base"]["packages"]) < set(busybox["packages"])
    with fleet.mounted("localhost/fleet-busybox:latest") as root:
        names = fleet.packages(root)
        assert {"busybox", "bash", "glibc-minimal-langpack"} <= set(names)
        assert names.count("bash") == 1
        assert not (root / "var/cache/dnf").exists() and not (root / "var/lib/dnf").exists()
    run = fleet.run_in("localhost/fleet-zlib:latest", "/bin/bash", "-c", "cat /etc/motd")
    assert run.stdout == "zlib on the base\n", run.stderr
    for image in images.values():
        assert all(NEVRA.match(p) for p in image["packages"]), image["packages"]
        if image["status"] == "built":
            assert image["image_id"] == fleet.image_id(image["tag"])
            assert image["digest"].startswith("sha256:") and image["size"] > 0
    assert images["fleet_broken"]["image_id"] is None and images["fleet_broken"]["error"]
    assert fleet.image_id("localhost/fleet-broken:latest") is None
    # the table and the fleet summary on stdout
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line}
    assert rows["fleet_zlib"][1:4] == ["localhost/fleet-zlib:latest", "built", "target"]
    assert rows["fleet_broken"][2] == "failed"
    assert "total: 6 images (5 built, 1 failed)" in result.stdout
    assert re.search(r"fleet: 5 images, \d+ distinct packages", result.stdout)
    cache = Path(fleet.env["BUILDAHPY_CACHE_DIR"]) / dnf_flavour()
    assert list((cache / "work").iterdir()) == [] and list((cache / "tmp").iterdir()) == []


def test_a_failed_base_skips_its_images_and_builds_the_rest(fleet: Builder) -> None:
    broken_base = BASE.replace('"bash", ', '"bash", "ngnix", ')
    files = fleet_files(fleet)
    files[0].write_text(broken_base)
    result, images = report_of(fleet, *files, "--jobs", "2")
    assert result.returncode == 1
    statuses = {name: image["status"] for name, image in images.items()}
    assert statuses == {
        "fleet_base": "failed",
        "fleet_busybox": "skipped",
        "fleet_zlib": "skipped",
        "fleet_broken": "skipped",
        "fleet_pcre": "skipped",
        "fleet_solo": "built",
    }
    assert images["fleet_zlib"]["error"] == "base fleet_base failed"
    zlib_lines = [line for line in result.stderr.splitlines() if line.startswith("fleet_zlib  ")]
    assert zlib_lines and all("warning: skipped" in line for line in zlib_lines), zlib_lines
    errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy:")]
    assert len(errors) == 1 and "ngnix" in errors[0]


def test_unchanged_images_are_up_to_date_and_rebuild_forces(fleet: Builder) -> None:
    files = fleet_files(fleet, broken=False)
    first, images = report_of(fleet, *files)
    assert first.returncode == 0, first.stderr
    ids = {name: image["image_id"] for name, image in images.items()}
    started = time.monotonic()
    second, again = report_of(fleet, *files, "--jobs", "2")
    assert time.monotonic() - started < 10
    assert second.returncode == 0, second.stderr
    assert {name: image["status"] for name, image in again.items()} == dict.fromkeys(
        ids, "up-to-date"
    )
    assert {name: image["image_id"] for name, image in again.items()} == ids
    assert again["fleet_busybox"]["packages"] == images["fleet_busybox"]["packages"]
    # an edit to one recipe's file rebuilds only what is in that file
    files[2].write_text(MORE.replace('image.install("pcre2")', 'image.install("pcre2", "zlib")'))
    _, edited = report_of(fleet, *files)
    assert {name: image["status"] for name, image in edited.items()} == {
        "fleet_base": "up-to-date",
        "fleet_busybox": "up-to-date",
        "fleet_zlib": "up-to-date",
        "fleet_pcre": "built",
        "fleet_solo": "built",
    }
    # a rebuilt base is the same image (reproducible), so its images stay up to date;
    # --rebuild builds everything
    _, rebased = report_of(fleet, *files, "--only", "fleet_base", "--rebuild")
    assert rebased["fleet_base"]["status"] == "built"
    assert rebased["fleet_base"]["image_id"] == ids["fleet_base"]
    _, after = report_of(fleet, *files)
    assert after["fleet_busybox"]["status"] == "up-to-date"
    assert after["fleet_solo"]["status"] == "up-to-date"
    _, forced = report_of(fleet, *files, "--rebuild", "--jobs", "2")
    assert {image["status"] for image in forced.values()} == {"built"}
    label = fleet.inspect("localhost/fleet-solo:latest")["OCIv1"]["config"]["Labels"]
    assert label["io.buildahpy.inputs"] == forced["fleet_solo"]["inputs"]


def test_shards_build_the_fleet_exactly_once_with_their_bases(fleet: Builder) -> None:
    files = fleet_files(fleet)
    listed: list[list[str]] = []
    for index in range(3):
        result = fleet.cli(*files, "--shard", f"{index}/3", "--list")
        assert result.returncode == 0, result.stderr
        listed.append(result.stdout.splitlines())
    targets = [line.split("\t")[0] for part in listed for line in part if line.endswith("target")]
    assert sorted(targets) == sorted(
        ["fleet_base", "fleet_busybox", "fleet_zlib", "fleet_broken", "fleet_pcre", "fleet_solo"]
    )
    for part in listed:  # a slice with an image on the base also lists the base, first
        names = [line.split("\t")[0] for line in part]
        if set(names) & {"fleet_busybox", "fleet_zlib", "fleet_broken", "fleet_pcre"}:
            assert names[0] == "fleet_base"
    built: list[str] = []
    for index in range(3):
        _, images = report_of(fleet, *files, "--shard", f"{index}/3")
        built += [n for n, image in images.items() if image["role"] == "target"]
        for name, image in images.items():
            if image["role"] == "base":
                assert image["status"] in ("built", "up-to-date"), name
    assert sorted(built) == sorted(targets)


def load_mirror() -> type:
    spec = importlib.util.spec_from_file_location(
        "latency_mirror", ROOT / "scripts/latency_mirror.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Mirror  # type: ignore[no-any-return]


def tree_digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_parallel_runs_share_the_cache_and_leave_it_intact(fleet: Builder, tmp_path: Path) -> None:
    """Two runs at once on one cache (each with its own base: two runs moving one tag at the same
    moment race for it), packages from an HTTP mirror: nothing in the cache is lost or changed,
    and a third run downloads no package at all."""
    busybox = f"/{fixture_nevra(fleet.repo_file, 'busybox')}.rpm"
    with load_mirror()(fleet.repo_file.parent, 0.03) as mirror:
        fleet.repo_file = mirror.repo_file(tmp_path / "mirror.repo", fleet.repo_file)
        files = fleet_files(fleet)
        other = fleet.recipe("other.py", OTHER)
        argv = [sys.executable, "-m", "buildahpy", "--repo-file", str(fleet.repo_file)]
        argv += ["--releasever", "40", "--jobs", "2"]
        runs = [
            subprocess.Popen([*argv, *files], **popen_args(fleet)),
            subprocess.Popen([*argv, other], **popen_args(fleet)),
        ]
        outputs = [run.communicate(timeout=600) for run in runs]
        assert runs[0].returncode == 1 and outputs[0][1].count("buildahpy: ") == 1, outputs[0]
        assert runs[1].returncode == 0, outputs[1]
        cache = Path(fleet.env["BUILDAHPY_CACHE_DIR"]) / dnf_flavour()
        before = tree_digests(cache)
        pooled = [path for path in before if "/packages/" in path]
        assert any(path.endswith(busybox) for path in pooled), before
        assert all((cache / path).stat().st_nlink == 1 for path in pooled)  # no build holds one
        mirror.requests.clear()
        again = fleet.cli(*files, other, "--rebuild", "--jobs", "2")
        assert again.returncode == 1, again.stderr
        assert not [path for path in mirror.requests if path.endswith(".rpm")], mirror.requests
        assert tree_digests(cache) == before
        assert list((cache / "work").iterdir()) == [] and list((cache / "tmp").iterdir()) == []
    for image in ("localhost/fleet-busybox:latest", "localhost/fleet2-solo:latest"):
        with fleet.mounted(image) as root:
            assert not (root / "var/cache/dnf").exists(), image
            assert not list(root.rglob("*.rpm")), image


def popen_args(builder: Builder) -> dict:
    return {
        "env": builder.env,
        "cwd": ROOT,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
        "text": True,
    }


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_every_running_build_and_leaves_nothing(
    fleet: Builder, signum: int, code: int
) -> None:
    slow = "".join(
        f"@recipe('localhost/fleet-slow{n}')\ndef slow{n}(image):\n"
        "    image.install('bash', 'coreutils-single')\n"
        "    image.run(['/usr/bin/sleep', '60'])\n\n"
        for n in range(3)
    )
    path = fleet.recipe("slow.py", "from buildahpy import recipe\n\n" + slow)
    argv = [sys.executable, "-m", "buildahpy", str(path), "--jobs", "2"]
    argv += ["--repo-file", str(fleet.repo_file), "--releasever", "40"]
    images_before = fleet.tool("buildah", "images", "--all", "--quiet").split()
    proc = subprocess.Popen(argv, **popen_args(fleet))
    try:
        deadline = time.monotonic() + 120
        while sum("sleep 60" in c for c in descendants(proc.pid).values()) < 2:
            assert time.monotonic() < deadline and proc.poll() is None, "builds did not start"
            time.sleep(0.1)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert f"interrupted by signal {signum}" in stderr
    for n in range(3):
        assert fleet.image_id(f"localhost/fleet-slow{n}:latest") is None
    assert fleet.tool("buildah", "images", "--all", "--quiet").split() == images_before
    cache = Path(fleet.env["BUILDAHPY_CACHE_DIR"]) / dnf_flavour()
    assert list((cache / "work").iterdir()) == []
