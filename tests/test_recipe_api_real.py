"""Real builds of the recipe API: variants of one function, owner=, copies that make their
parents and resolve against the recipe's directory, the config a base set cleared, stop signal,
annotations and healthcheck in the committed image, and 'did you mean' for a package typo."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
from conftest import ROOT, Builder

pytestmark = pytest.mark.integration


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("buildahpy: ")]
    return line


def test_distroless_variants_of_one_function(builder: Builder) -> None:
    result = builder.cli(ROOT / "recipes" / "distroless.py")
    assert result.returncode == 0, result.stderr
    users = {}
    for variant in ("latest", "nonroot", "debug"):
        tag = f"localhost/distroless:{variant}"
        config = builder.inspect(tag)["OCIv1"]["config"]
        users[variant] = config["User"]
        with builder.mounted(tag) as root:
            home = (root / "home/nonroot").lstat()
            # owner= without a chown binary: the image has none
            assert (home.st_uid, home.st_gid, stat.S_IMODE(home.st_mode)) == (65532, 65532, 0o700)
            assert not (root / "usr/bin/chown").exists()
            assert (os.readlink(root / "busybox/sh") if variant == "debug" else None) == (
                "/usr/sbin/busybox" if variant == "debug" else None
            )
            assert ("busybox" in builder.packages(root)) == (variant == "debug")
    assert users == {"latest": "0:0", "nonroot": "65532:65532", "debug": "0:0"}
    shell = builder.run_in("localhost/distroless:debug", "/busybox/sh", "-c", "id -u; echo ok")
    assert shell.returncode == 0 and shell.stdout.split() == ["0", "ok"], shell.stderr
    listed = builder.cli(ROOT / "recipes" / "distroless.py", "--list").stdout.splitlines()
    assert [line.split("\t")[0] for line in listed] == [
        "distroless_latest",
        "distroless_nonroot",
        "distroless_debug",
    ]
    source = (ROOT / "recipes" / "distroless.py").read_text().splitlines()
    (call,) = [n for n, text in enumerate(source, 1) if "recipe(f" in text]
    assert {line.split("\t")[2] for line in listed} == {f"recipes/distroless.py:{call}"}


OWNERS = """\
from buildahpy import recipe

@recipe("localhost/owners")
def owners(image):
    image.install("nginx")
    image.write_file("/etc/nginx/conf.d/app.conf", "# app\\n", 0o640, owner="nginx")
    image.mkdir("/srv/data", 0o750, owner=(1000, 1001))
    image.mkdir("/srv/spool", owner="4242")
    image.copy("tree", "/srv/tree", owner="nginx:root")
    image.write_file("/srv/suid", "x", 0o4755, owner="nginx")
"""


def test_owner_names_resolve_in_the_images_own_account_files(builder: Builder) -> None:
    tree = builder.tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("f\n")
    (tree / "link").symlink_to("sub/f")
    path = builder.recipe("owners.py", OWNERS)
    result = builder.cli(path)
    assert result.returncode == 0, result.stderr
    with builder.mounted("localhost/owners:latest") as root:
        nginx = next(
            line.split(":")
            for line in (root / "etc/passwd").read_text().splitlines()
            if line.startswith("nginx:")
        )
        uid, gid = int(nginx[2]), int(nginx[3])

        def ids(name: str) -> tuple[int, int, int]:
            st = (root / name).lstat()
            return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)

        assert ids("etc/nginx/conf.d/app.conf") == (uid, gid, 0o640)
        assert ids("srv/data") == (1000, 1001, 0o750)
        assert ids("srv/spool") == (4242, 4242, 0o755)  # a uid with no entry: its own gid
        assert ids("srv")[:2] == (0, 0)  # parents made on the way stay root's
        for name in ("srv/tree", "srv/tree/sub", "srv/tree/sub/f", "srv/tree/link"):
            assert ids(name)[:2] == (uid, 0), name
        assert os.readlink(root / "srv/tree/link") == "sub/f"
        assert ids("srv/suid") == (uid, gid, 0o4755)  # chown before chmod keeps setuid


def test_an_unknown_owner_is_one_line_naming_the_recipes_line(builder: Builder) -> None:
    path = builder.recipe(
        "nobody.py",
        "from buildahpy import recipe\n\n@recipe('localhost/nobody')\ndef nobody(image):\n"
        "    image.install('glibc-minimal-langpack')\n"
        "    image.write_file('/etc/x', 'x', owner='app:app')\n",
    )
    result = builder.cli(path)
    assert result.returncode == 1, result.stderr
    assert error_line(result) == (
        f"buildahpy: nobody: {path}:6: cannot write /etc/x: owner 'app:app': no user 'app' in "
        "the image's /etc/passwd (install the package that makes it, or call add_user, "
        "before this call)"
    )
    assert builder.image_id("localhost/nobody:latest") is None


COPIES = """\
from buildahpy import recipe

@recipe("localhost/copies")
def copies(image):
    image.install("busybox")
    image.copy("data", "/opt/app/data")
    image.copy("data/run.sh", "/opt/bin/")
    image.symlink("/opt/app/data/run.sh", "/usr/local/bin/run")
"""


def test_copy_resolves_against_the_recipes_directory_and_makes_parents(
    builder: Builder,
) -> None:
    data = builder.tmp_path / "data"
    (data / "conf").mkdir(parents=True)
    (data / "conf" / "a.conf").write_text("a\n")
    (data / "run.sh").write_text("#!/usr/sbin/busybox sh\necho ran\n")
    (data / "run.sh").chmod(0o750)
    (data / "conf").chmod(0o700)
    path = builder.recipe("copies.py", COPIES)
    assert builder.tmp_path != ROOT  # the command line runs in the checkout, not beside it
    result = builder.cli(path)
    assert result.returncode == 0, result.stderr
    with builder.mounted("localhost/copies:latest") as root:
        # the directory's contents, into the destination (as COPY does), modes kept
        assert sorted(os.listdir(root / "opt/app/data")) == ["conf", "run.sh"]
        assert (root / "opt/app/data/conf/a.conf").read_text() == "a\n"
        assert stat.S_IMODE((root / "opt/app/data/conf").stat().st_mode) == 0o700
        assert stat.S_IMODE((root / "opt/app/data/run.sh").stat().st_mode) == 0o750
        assert stat.S_IMODE((root / "opt/app").stat().st_mode) == 0o755
        assert (root / "opt/bin/run.sh").read_text().endswith("echo ran\n")  # into a dir/
        assert os.readlink(root / "usr/local/bin/run") == "/opt/app/data/run.sh"
    ran = builder.run_in("localhost/copies:latest", "/usr/local/bin/run")
    assert ran.returncode == 0 and ran.stdout == "ran\n", ran.stderr


CONFIGURED = """\
from buildahpy import recipe

@recipe("localhost/cfg-base")
def cfg_base(image):
    image.install("busybox")
    image.config(
        entrypoint=["/usr/sbin/busybox"],
        cmd=["sh"],
        env={"KEEP": "1", "DROP": "1"},
        labels={"keep": "1", "drop": "1"},
        annotations={"org.example.drop": "1", "org.example.keep": "1"},
    )

@recipe("localhost/cfg-cleared", base=cfg_base)
def cfg_cleared(image):
    image.config(
        cmd=[],
        env={"DROP": None},
        labels={"drop": None},
        annotations={"org.example.drop": None},
        stop_signal="SIGQUIT",
    )

@recipe("localhost/cfg-health", base=cfg_base)
def cfg_health(image):
    image.config(
        annotations={"org.example.drop": None, "org.example.keep": None},
        healthcheck={"cmd": ["/usr/sbin/busybox", "true"], "interval": "10s", "retries": 2},
    )
"""


def test_config_clears_what_the_base_set_and_keeps_signal_annotations_healthcheck(
    builder: Builder,
) -> None:
    path = builder.recipe("cfg.py", CONFIGURED)
    result = builder.cli(path)
    assert result.returncode == 0, result.stderr
    cleared = builder.inspect("localhost/cfg-cleared:latest")
    config = cleared["OCIv1"]["config"]
    assert config["Entrypoint"] == ["/usr/sbin/busybox"] and not config.get("Cmd"), config
    assert "KEEP=1" in config["Env"] and not [e for e in config["Env"] if e.startswith("DROP=")]
    assert config["Labels"]["keep"] == "1" and "drop" not in config["Labels"]
    assert config["StopSignal"] == "SIGQUIT"
    notes = cleared.get("ImageAnnotations") or {}
    assert notes.get("org.example.keep") == "1" and "org.example.drop" not in notes, notes
    assert "oci" in cleared["Manifest"] and "vnd.docker" not in cleared["Manifest"]
    health = builder.inspect("localhost/cfg-health:latest")
    check = health["Docker"]["config"]["Healthcheck"]
    assert check["Test"] == ["CMD", "/usr/sbin/busybox", "true"], check
    assert (check["Interval"], check["Retries"]) == (10_000_000_000, 2)
    assert "application/vnd.docker.distribution.manifest.v2+json" in health["Manifest"]
    dry = builder.cli(path, "--dry-run", "--only", "cfg_health").stdout
    assert "--format=docker" in dry and "'--healthcheck=CMD /usr/sbin/busybox true'" in dry


@pytest.mark.parametrize("cache", [(), ("--no-cache",)], ids=["shared-cache", "no-cache"])
def test_a_package_typo_says_did_you_mean(builder: Builder, cache: tuple[str, ...]) -> None:
    """The names come from the metadata the failed dnf run fetched: into the build's private
    cachedir on the host, or (--no-cache) into dnf's own cache inside the image."""
    path = builder.recipe(
        "typo.py",
        "from buildahpy import recipe\n\n@recipe('localhost/typo')\ndef typo(image):\n"
        "    image.install('busybox', 'ngnix')\n",
    )
    result = builder.cli(path, *cache)
    assert result.returncode == 1, result.stderr
    assert error_line(result).startswith(
        f"buildahpy: typo: {path}:5: package not found in the enabled repositories: ngnix; "
        "did you mean 'nginx'?"
    ), result.stderr
