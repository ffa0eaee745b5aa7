"""Hostile and broken input at the command line: one clear line, the right exit code, nothing made.

The unit tests (test_argv.py, test_recipe_api.py) check each validator as data; these run the
real CLI against the private storage and check what a user sees and what is left: no working
container, no mount, no image.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, Builder, dnf_command
from proc_helpers import images, storage_mounts

pytestmark = pytest.mark.integration


class Run:
    """One CLI run and the storage around it."""

    def __init__(self, builder: Builder, env: dict[str, str] | None = None) -> None:
        self.builder = builder
        self.env = env or builder.env
        self.images = images(builder)
        self.mounts = storage_mounts(builder.env)

    def __call__(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "buildahpy", *map(str, args)]
        argv += ["--repo-file", str(self.builder.repo_file), "--releasever", "40"]
        return subprocess.run(
            argv, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
        )

    def error(self, result: subprocess.CompletedProcess[str], code: int) -> str:
        """The one error line, after checking the exit code and that nothing was left."""
        assert result.returncode == code, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy: ")]
        assert len(errors) == 1, result.stderr
        assert self.builder.containers() == []
        assert storage_mounts(self.builder.env) == self.mounts
        assert images(self.builder) == self.images
        return errors[0]


def recipe(
    builder: Builder, body: str, name: str = "hostile", tag: str = "localhost/hostile"
) -> Path:
    return builder.recipe(
        f"{name}.py",
        f"from buildahpy import recipe\n\n@recipe({tag!r})\ndef {name}(image):\n{body}",
    )


@pytest.fixture
def dnf_record(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The dnf buildahpy runs (``dnf``, ``dnf5``), first on PATH as a wrapper that appends its
    argv (JSON, one line a call) to a file, then runs the host's: a build works as usual and
    every dnf command line is on record."""
    command = dnf_command()
    real = shutil.which(command)
    assert real is not None
    bindir, record = tmp_path / "fakebin", tmp_path / "dnf-argv.jsonl"
    bindir.mkdir()
    wrapper = bindir / command
    wrapper.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"with open({str(record)!r}, 'a') as f:\n    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    wrapper.chmod(0o755)
    yield bindir, record


HOSTILE_PACKAGES = ["--installroot=/", "-y", "--setopt=tsflags=", "nginx;id", "$(id)"]


@pytest.mark.parametrize("name", HOSTILE_PACKAGES)
def test_a_package_name_that_is_an_option_or_shell_never_reaches_dnf(
    builder: Builder, dnf_record: tuple[Path, Path], name: str
) -> None:
    bindir, record = dnf_record
    env = dict(builder.env, PATH=f"{bindir}:{builder.env['PATH']}")
    run = Run(builder, env)
    path = recipe(builder, f"    image.install('bash', {name!r})\n")

    line = run.error(run(path), 1)

    assert line == (
        f"buildahpy: hostile: {path}:5: invalid package name {name!r}: "
        "not a package name or provide"
    )
    calls = [json.loads(x) for x in record.read_text().splitlines()] if record.exists() else []
    assert not [argv for argv in calls if name in argv or "install" in argv], calls


def test_the_recorded_dnf_does_see_an_ordinary_install(
    builder: Builder, dnf_record: tuple[Path, Path]
) -> None:
    """The check above can fail: the same wrapper records a real install."""
    bindir, record = dnf_record
    env = dict(builder.env, PATH=f"{bindir}:{builder.env['PATH']}")
    result = Run(builder, env)(
        recipe(builder, "    image.install('busybox')\n", tag="localhost/ok")
    )
    assert result.returncode == 0, result.stderr
    calls = [json.loads(x) for x in record.read_text().splitlines()]
    assert any(argv[-2:] == ["install", "busybox"] for argv in calls), calls
    builder.tool("buildah", "rmi", "localhost/ok:latest")


# (recipe body, exit code, the error after "buildahpy: hostile: <file>:<line>: ")
IN_RECIPE = {
    "relative image path": (
        "    image.write_file('etc/motd', 'hi')\n",
        "image path 'etc/motd' must be an absolute path inside the image",
    ),
    "empty image path": (
        "    image.mkdir('')\n",
        "image path '' must be an absolute path inside the image",
    ),
    "bad port": (
        "    image.config(ports=['99999/tcp'])\n",
        "config ports: invalid port '99999/tcp': expected e.g. '80/tcp' (1-65535)",
    ),
    "bad env name": (
        "    image.config(env={'PATH=/evil:': 'x'})\n",
        "config env: invalid name 'PATH=/evil:'",
    ),
    "bad env value": (
        "    image.config(env={'A': 'two\\nlines'})\n",
        "config env: value of 'A' must be a one-line string (None removes it)",
    ),
    "bad user": (
        "    image.config(user='root;id')\n",
        "config user: invalid user 'root;id': expected 'name', 'uid' or 'uid:gid'",
    ),
}


@pytest.mark.parametrize("case", sorted(IN_RECIPE))
def test_bad_values_in_a_recipe_fail_the_build_and_leave_nothing(
    builder: Builder, case: str
) -> None:
    body, message = IN_RECIPE[case]
    run = Run(builder)
    path = recipe(builder, body)
    assert run.error(run(path), 1) == f"buildahpy: hostile: {path}:5: {message}"


def test_a_bad_tag_is_a_recipe_error(builder: Builder) -> None:
    run = Run(builder)
    path = recipe(builder, "    pass\n", tag="localhost/Bad Tag!")
    assert run.error(run(path), 2) == (
        f"buildahpy: {path}:3: invalid image tag 'localhost/Bad Tag!': it contains ' '"
    )


def test_a_recipe_file_that_does_not_exist(builder: Builder) -> None:
    run = Run(builder)
    missing = builder.tmp_path / "nope.py"
    assert run.error(run(missing), 2) == f"buildahpy: {missing}: recipe file does not exist"


def test_a_recipe_file_that_cannot_be_imported(builder: Builder) -> None:
    run = Run(builder)
    path = builder.recipe("imports.py", "import buildahpy_no_such_module\n")
    assert run.error(run(path), 2) == (
        f"buildahpy: {path}:1: ModuleNotFoundError: No module named 'buildahpy_no_such_module'"
    )


def test_a_recipe_file_that_defines_no_recipes(builder: Builder) -> None:
    run = Run(builder)
    path = builder.recipe("empty.py", "from buildahpy import recipe\n\nX = 1\n")
    assert run.error(run(path), 2) == (
        f"buildahpy: {path}: defines no recipes (decorate a function with @recipe(tag))"
    )


def test_two_recipes_with_the_same_name(builder: Builder) -> None:
    run = Run(builder)
    first = recipe(builder, "    pass\n", name="same")
    second = builder.recipe("other.py", first.read_text())
    assert run.error(run(first, second), 2) == (
        f"buildahpy: {second}:3: recipe 'same' is already defined at {first}:3"
    )
