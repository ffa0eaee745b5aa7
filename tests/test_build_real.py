"""Real builds: real buildah, dnf and rpm against the fixture repository (see conftest)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Builder
from proc_helpers import running, wait_for

from buildahpy.host import features

pytestmark = pytest.mark.integration

DNF_LEFTOVERS = [
    "var/cache/dnf",
    "var/lib/dnf",
    "var/log/dnf.log",
    "var/log/dnf.librepo.log",
    "var/log/dnf.rpm.log",
    "var/log/hawkey.log",
    "root/.rpmdb",
]


def table_row(stdout: str, tag: str) -> list[str]:
    """tag, image id, size, unit, packages, seconds from the row of RECIPE TAG STATUS ROLE ..."""
    table = [line.split() for line in stdout.splitlines()]
    rows = [cols for cols in table if cols[1:2] and cols[1].startswith(tag)]
    assert len(rows) == 1 and rows[0][2] == "built", stdout
    return [rows[0][1], *rows[0][4:]]


def test_bash_base_is_minimal_and_runs(builder: Builder) -> None:
    result = builder.cli(ROOT / "recipes" / "bash_base.py")
    assert result.returncode == 0, result.stderr
    _tag, image_id, _size, _unit, packages, _seconds = table_row(
        result.stdout, "localhost/bash-base"
    )
    assert builder.image_id("localhost/bash-base:latest").startswith(image_id)
    with builder.mounted("localhost/bash-base:latest") as root:
        # before our own rpm query below, which leaves a -shm file in the container's layer
        assert not list((root / "usr/lib/sysimage/rpm").glob("rpmdb.sqlite-*"))
        names = builder.packages(root)
        assert {"bash", "glibc", "glibc-minimal-langpack", "coreutils-single"} <= set(names)
        assert not {"glibc-all-langpacks", "coreutils", "bash-completion"} & set(names)
        assert int(packages) == len(names)
        for path in [*DNF_LEFTOVERS, "usr/share/doc/bash", "usr/share/man/man1/bash.1.gz"]:
            assert not os.path.lexists(root / path), path
        for tool in ("usr/bin/rpm", "usr/bin/dnf", "usr/bin/python3"):
            assert not os.path.lexists(root / tool), tool
        assert os.readlink(root / "var/lib/rpm") == "../../usr/lib/sysimage/rpm"
    run = builder.run_in("localhost/bash-base:latest", "/bin/bash", "-c", "echo $((6*7)); ls /")
    assert run.returncode == 0 and run.stdout.startswith("42\n"), run.stderr
    config = builder.inspect("localhost/bash-base:latest")["OCIv1"]["config"]
    assert config["Entrypoint"] == ["/bin/bash"]


def test_weak_deps_and_docs_on_make_a_bigger_image(builder: Builder) -> None:
    naive = builder.recipe(
        "naive.py",
        (
            "from buildahpy import recipe\n\n"
            "@recipe('localhost/bash-naive', weak_deps=True, docs=True, alternatives=False,\n"
            "        prune=False, langs='all')\n"
            "def bash_naive(image):\n    image.install('glibc', 'bash')\n"
        ),
    )
    result = builder.cli(naive, ROOT / "recipes" / "bash_base.py")
    assert result.returncode == 0, result.stderr
    with builder.mounted("localhost/bash-naive:latest") as root:
        names = set(builder.packages(root))
        assert {"glibc-all-langpacks", "bash-completion"} <= names
        assert (root / "usr/share/doc").is_dir()
    minimal, full = builder.size("localhost/bash-base:latest"), builder.size("localhost/bash-naive")
    assert minimal * 2 < full, (minimal, full)


def test_nginx_recipe_serves_config_and_user(builder: Builder) -> None:
    result = builder.cli(ROOT / "recipes" / "nginx.py")
    assert result.returncode == 0, result.stderr
    tag = "localhost/nginx:latest"
    with builder.mounted(tag) as root:
        names = set(builder.packages(root))
        assert {"nginx", "coreutils-single", "glibc-minimal-langpack"} <= names
        assert not {"coreutils", "glibc-all-langpacks", "nginx-docs", "logrotate"} & names
        html = (root / "usr/share/nginx/html/index.html").read_text()
        assert html == "<h1>hello from buildahpy</h1>\n"
        assert any(
            line.startswith("nginx:") for line in (root / "etc/passwd").read_text().splitlines()
        )
    check = builder.run_in(tag, "/usr/sbin/nginx", "-t")
    assert check.returncode == 0, check.stderr
    assert "test is successful" in check.stderr
    config = builder.inspect(tag)["OCIv1"]["config"]
    assert config["Entrypoint"] == ["/usr/sbin/nginx", "-g", "daemon off;"]
    assert "80/tcp" in config["ExposedPorts"]


def test_busybox_base_has_an_applet_link_for_everything(builder: Builder) -> None:
    result = builder.cli(ROOT / "recipes" / "busybox.py")
    assert result.returncode == 0, result.stderr
    tag = "localhost/busybox:latest"
    with builder.mounted(tag) as root:
        applets = builder.run_in(tag, "/usr/sbin/busybox", "--list").stdout.split()
        assert len(applets) > 100
        for applet in applets:
            assert os.readlink(root / "bin" / applet) == "/usr/sbin/busybox", applet
        # no glibc pulls the release package in: the build adds Fedora's container identity
        assert builder.packages(root) == [
            "busybox",
            "fedora-release-common",
            "fedora-release-identity-container",
        ]
    run = builder.run_in(tag, "/bin/sh", "-c", "echo busy; ls / | wc -l")
    assert run.returncode == 0 and run.stdout.startswith("busy\n"), run.stderr
    assert builder.inspect(tag)["OCIv1"]["config"]["Entrypoint"] == ["/bin/sh"]


RUNS = """\
from buildahpy import recipe

@recipe("localhost/runs")
def runs(image):
    image.install("bash")
    limits = image.query(["/bin/bash", "-c", "ulimit -Sn; ulimit -Hn; ulimit -Su; ulimit -Hu"])
    image.write_file("/limits", limits)
"""


NOFILE, NPROC = resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC


def test_image_run_works_with_limits_it_may_set(builder: Builder) -> None:
    """buildah 1.43 raises RLIMIT_NOFILE and NPROC for ``buildah run`` unless told the limits,
    which fails without CAP_SYS_RESOURCE; the working container gets ours, or buildah's own
    default where its help shows one (1.28: nproc)."""
    result = builder.cli(builder.recipe("runs.py", RUNS))
    assert result.returncode == 0, result.stderr
    with builder.mounted("localhost/runs:latest") as root:
        seen = (root / "limits").read_text().split()
    defaults = features.buildah_default_ulimits()

    def expected(name: str, which: int) -> list[str]:
        if name in defaults:
            return defaults[name].split(":")
        limits = resource.getrlimit(which)
        return ["unlimited" if x == resource.RLIM_INFINITY else str(x) for x in limits]

    nofile, nproc = (expected(n, w) for n, w in (("nofile", NOFILE), ("nproc", NPROC)))
    assert seen == [*nofile, *nproc]


FAILING = {
    "missing": ("image.install('ngnix')", "ngnix"),
    "depends": ("image.install('needs-missing')", "does-not-exist-anywhere"),
    "scriptlet": ("image.install('bash', 'broken-scriptlet')", "broken-scriptlet"),
    "exception": ("image.install('bash')\n    raise RuntimeError('recipe bug')", "fail.py:8"),
    "run": ("image.install('bash')\n    image.run(['/bin/bash', '-c', 'exit 3'])", "fail.py:8"),
}


@pytest.mark.parametrize("case", sorted(FAILING))
def test_failed_rebuild_leaves_nothing_and_keeps_the_previous_image(
    builder: Builder, case: str
) -> None:
    good = builder.recipe(
        "good.py",
        (
            "from buildahpy import recipe\n\n@recipe('localhost/victim')\n"
            "def victim(image):\n    image.install('busybox')\n"
        ),
    )
    assert builder.cli(good).returncode == 0
    before = builder.image_id("localhost/victim:latest")
    images_before = builder.tool("buildah", "images", "--all", "--quiet").split()
    body, needle = FAILING[case]
    bad = builder.recipe(
        "fail.py",
        (
            "from buildahpy import recipe\n\n\n@recipe('localhost/victim')\n"
            f"def victim(image):\n    image.write_file('/x', 'y')\n    {body}\n"
        ),
    )
    result = builder.cli(bad)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy:")]
    assert len(errors) == 1 and needle in errors[0], result.stderr
    assert builder.image_id("localhost/victim:latest") == before
    assert builder.tool("buildah", "images", "--all", "--quiet").split() == images_before


def test_recipe_that_cannot_load_exits_2_and_creates_nothing(builder: Builder) -> None:
    bad = builder.recipe(
        "syntax.py", "from buildahpy import recipe\n\n@recipe('localhost/x')\ndef x(:\n"
    )
    result = builder.cli(bad)
    assert result.returncode == 2
    assert "syntax.py:4: SyntaxError" in result.stderr


def test_release_that_cannot_be_determined_is_a_usage_error(builder: Builder) -> None:
    if Path("/etc/fedora-release").exists():
        pytest.skip("on a Fedora host the host's release is the default")
    result = builder.cli(ROOT / "recipes" / "busybox.py", releasever=None)
    assert result.returncode == 2
    assert "cannot determine the fedora release" in result.stderr


def test_dry_run_prints_the_plan_and_creates_nothing(builder: Builder) -> None:
    images = builder.tool("buildah", "images", "--all", "--quiet")
    result = builder.cli(ROOT / "recipes" / "nginx.py", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "--installroot=<mountpoint>" in result.stdout
    assert "install glibc-minimal-langpack coreutils-single nginx" in result.stdout
    assert builder.tool("buildah", "images", "--all", "--quiet") == images


@pytest.mark.parametrize(
    ("signum", "stage", "code"),
    [
        (signal.SIGINT, "--installroot", 130),
        (signal.SIGTERM, "--installroot", 143),
        (signal.SIGTERM, "sleep", 143),
    ],
)
def test_signals_stop_the_build_and_clean_up(
    builder: Builder, signum: int, stage: str, code: int
) -> None:
    slow = builder.recipe(
        "slow.py",
        (
            "from buildahpy import recipe\n\n@recipe('localhost/slow')\n"
            "def slow(image):\n    image.install('bash', 'coreutils-single')\n"
            "    image.run(['/usr/bin/sleep', '60'])\n"
        ),
    )
    argv = [
        sys.executable,
        "-m",
        "buildahpy",
        str(slow),
        "--repo-file",
        str(builder.repo_file),
        "--releasever",
        "40",
    ]
    proc = subprocess.Popen(
        argv, env=builder.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: running(proc.pid, stage))
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert "interrupted by signal" in stderr
    assert builder.image_id("localhost/slow:latest") is None
