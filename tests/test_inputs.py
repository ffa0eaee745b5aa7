"""What the up-to-date digest covers beyond the recipe's own file: the user's modules it imports,
what its dry run does (calls, bytes written, config), and recipes whose inputs cannot be known."""

from __future__ import annotations

import hashlib
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildahpy.api import imports
from buildahpy.api.recipe import Recipe, load_file
from buildahpy.fleet import inputs
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.plan import Options

HOST = HostRelease("debian", "12", ())


@pytest.fixture
def src(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for recipes and their helpers; the modules it held are forgotten
    afterwards, so the next test's ``common`` is its own."""
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # edits within a second, same size
    (tmp_path / "test.repo").write_text("[fixture]\nbaseurl=file:///x\n")
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def digest(path: Path, name: str | None = None) -> str | None:
    entries = load_file(path)
    entry = next(e for e in entries if name is None or e.name == name)
    return inputs.recipe_inputs(entry, Options(repo_files=(path.parent / "test.repo",)), HOST, "")


RECIPE = """
from buildahpy import recipe
from common import MOTD

@recipe("localhost/app")
def app(image):
    image.write_file("/etc/motd", MOTD)
"""


def test_a_helper_module_the_recipe_imports_is_an_input(src: Path) -> None:
    write(src / "common.py", "MOTD = 'one'\n")
    path = write(src / "app.py", RECIPE)
    first = digest(path)
    assert first is not None and digest(path) == first
    write(src / "common.py", "MOTD = 'two, longer'\n")
    assert digest(path) not in (None, first)


def test_a_helper_change_the_dry_run_cannot_see_is_still_an_input(src: Path) -> None:
    """The branch only runs in a real build (``image.run`` prints nothing in a dry run): only the
    helper's content tells the two versions apart."""
    helper = """
    def setup(image):
        if image.run(["/bin/cat", "/etc/flavour"]):
            image.write_file("/etc/motd", "{}")
    """
    write(src / "deeper.py", helper.format("one"))
    write(src / "common.py", "from deeper import setup\n")
    path = write(
        src / "app.py",
        """
        from buildahpy import recipe
        import common

        @recipe("localhost/app")
        def app(image):
            common.setup(image)
        """,
    )
    first = digest(path)
    assert first is not None
    write(src / "deeper.py", helper.format("two, longer"))  # imported by the helper: transitive
    assert digest(path) not in (None, first)


def test_modules_imported_when_the_recipe_runs_count_too(src: Path) -> None:
    write(src / "late.py", "NAME = 'one'\n")
    path = write(
        src / "app.py",
        """
        from buildahpy import recipe

        @recipe("localhost/app")
        def app(image):
            import importlib
            image.install(importlib.import_module("la" + "te").NAME)
        """,
    )
    (entry,) = load_file(path)
    assert entry.imports == ()  # nothing of the user's is imported while the file loads
    options = Options(repo_files=(src / "test.repo",))
    first = inputs.recipe_inputs(entry, options, HOST, "")
    write(src / "late.py", "NAME = 'one'  # an edit the dry run does not see\n")
    assert inputs.recipe_inputs(entry, options, HOST, "") not in (None, first)


def test_a_helper_shared_by_two_recipe_files_is_an_input_of_both(src: Path) -> None:
    write(src / "common.py", "MOTD = 'one'\n")
    first = write(src / "first.py", RECIPE)
    second = write(src / "second.py", RECIPE.replace("app", "other"))
    load_file(first)  # common is in sys.modules before the second file imports it
    (entry,) = load_file(second)
    assert entry.imports == ((src / "common.py").resolve(),)


def test_only_the_users_own_modules_are_tracked_and_sys_modules_is_kept(src: Path) -> None:
    write(src / "common.py", "import json, attrs, buildahpy.api.config\nMOTD = 'x'\n")
    path = write(src / "app.py", RECIPE)
    before = dict(sys.modules)
    (entry,) = load_file(path)
    assert entry.imports == ((src / "common.py").resolve(),)
    assert all(sys.modules[name] is module for name, module in before.items())
    assert imports.module_file(sys.modules["json"]) is None
    assert imports.module_file(sys.modules["attrs"]) is None
    assert imports.module_file(sys.modules["buildahpy.api.config"]) is None


def test_what_the_recipe_writes_is_an_input(src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        src / "app.py",
        """
        import os
        from buildahpy import recipe

        @recipe("localhost/app")
        def app(image):
            image.write_file("/etc/greeting", os.environ["GREETING"])
            image.config(env={"GREETING": os.environ.get("IN_CONFIG", "same")})
        """,
    )
    monkeypatch.setenv("GREETING", "hello")
    first = digest(path)
    assert first is not None and digest(path) == first
    monkeypatch.setenv("GREETING", "HELLO")  # same length: the bytes, not their count
    second = digest(path)
    assert second not in (None, first)
    monkeypatch.setenv("IN_CONFIG", "other")
    assert digest(path) not in (None, first, second)


@pytest.mark.parametrize(
    "call",
    [
        "image.write_file('/etc/stamp', str(time.time()))",
        "image.install('bash' + str(random.random())[2:])",
        "image.config(labels={'built': str(time.monotonic_ns())})",
    ],
)
def test_a_recipe_whose_dry_runs_differ_has_unknown_inputs(src: Path, call: str) -> None:
    path = write(
        src / "app.py",
        f"""
        import random, time
        from buildahpy import recipe

        @recipe("localhost/app")
        def app(image):
            {call}
        """,
    )
    assert digest(path) is None


def test_the_same_dry_run_twice_is_known(src: Path) -> None:
    """The check above can fail: a recipe that reads the clock coarsely enough is deterministic
    within a run, and its digest then carries what it read."""
    path = write(
        src / "app.py",
        """
        import time
        from buildahpy import recipe

        @recipe("localhost/app")
        def app(image):
            image.write_file("/etc/year", time.strftime("%Y"))
        """,
    )
    assert digest(path) is not None


def test_the_dry_run_record_has_every_call_with_its_arguments() -> None:
    def func(image: object) -> None:
        image.install("bash")  # type: ignore[attr-defined]
        image.write_file("/a", b"\x00\x01", mode=0o600)  # type: ignore[attr-defined]
        image.symlink("/a", "/b")  # type: ignore[attr-defined]
        image.config(user="1000")  # type: ignore[attr-defined]

    entry = Recipe(name="r", tag="localhost/r:latest", func=func, file=Path("/r.py"), line=1)
    record = json.loads(inputs.dry_run(entry).record)
    assert record["calls"] == [
        ["install", "bash"],
        ["write", "/a", hashlib.sha256(b"\x00\x01").hexdigest(), 0o600],
        ["symlink", "/a", "/b"],
    ]
    assert "user='1000'" in record["config"]
    assert record["steps"][0] == "install bash"
