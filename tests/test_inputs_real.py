"""Up to date for real: what a recipe's image is made from beyond its file rebuilds it when it
changes (a helper module it imports, an environment variable it writes), and nothing else does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Builder

pytestmark = pytest.mark.integration

HELPER_RECIPE = """
from buildahpy import recipe
from common import MOTD

@recipe("localhost/inputs-helper")
def inputs_helper(image):
    image.mkdir("/etc")
    image.write_file("/etc/motd", MOTD)
"""

ENV_RECIPE = """
import os
from buildahpy import recipe

@recipe("localhost/inputs-env")
def inputs_env(image):
    image.mkdir("/etc")
    image.write_file("/etc/greeting", os.environ["INPUTS_GREETING"])
"""


def status(builder: Builder, path: Path) -> str:
    report = builder.tmp_path / "report.json"
    result = builder.cli(path, "--report", report)
    assert result.returncode == 0, result.stderr
    (image,) = json.loads(report.read_text())["images"]
    return str(image["status"])


def content(builder: Builder, tag: str, path: str) -> str:
    with builder.mounted(tag) as root:
        return (root / path.lstrip("/")).read_text()


def test_a_changed_helper_module_rebuilds_with_its_new_content(builder: Builder) -> None:
    # the recipe's directory on the module path, as when it is run from there
    builder.env = dict(builder.env, PYTHONPATH=str(builder.tmp_path), PYTHONDONTWRITEBYTECODE="1")
    helper = builder.tmp_path / "common.py"
    helper.write_text('MOTD = "first\\n"\n')
    path = builder.recipe("helper.py", HELPER_RECIPE)
    assert status(builder, path) == "built"
    assert status(builder, path) == "up-to-date"
    helper.write_text('MOTD = "second\\n"\n')
    assert status(builder, path) == "built"
    assert content(builder, "localhost/inputs-helper:latest", "/etc/motd") == "second\n"
    assert status(builder, path) == "up-to-date"


def test_an_environment_variable_the_recipe_writes_rebuilds_when_it_changes(
    builder: Builder,
) -> None:
    path = builder.recipe("env.py", ENV_RECIPE)
    env = builder.env
    builder.env = dict(env, INPUTS_GREETING="hello")
    assert status(builder, path) == "built"
    assert status(builder, path) == "up-to-date"
    builder.env = dict(env, INPUTS_GREETING="HELLO")
    assert status(builder, path) == "built"
    assert content(builder, "localhost/inputs-env:latest", "/etc/greeting") == "HELLO"
    assert status(builder, path) == "up-to-date"
