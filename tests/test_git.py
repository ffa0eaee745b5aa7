"""The recipe's checkout for the provenance labels: git asked once per directory and run.

A fake git on PATH records its argv and answers as git does in and outside a checkout.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_features import fake_tool

from buildahpy.host import git

ANSWER = """echo "$@" >> {calls}
case "$3" in
  rev-parse) [ "$2" = {outside} ] && exit 128; echo 0123abcd ;;
  remote) echo https://example.org/recipes.git ;;
esac"""


@pytest.fixture
def fake_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    calls = tmp_path / "calls"
    outside = tmp_path / "outside"
    fake_tool(tmp_path, "git", ANSWER.format(calls=calls, outside=outside))
    monkeypatch.setenv("PATH", str(tmp_path))
    git.checkout.cache_clear()
    yield calls
    git.checkout.cache_clear()


def test_revision_and_origin_cost_two_runs_per_directory(fake_git: Path, tmp_path: Path) -> None:
    recipes = tmp_path / "recipes"
    for name in ("a.py", "b.py"):
        assert git.revision(recipes / name) == "0123abcd"
        assert git.origin(recipes / name) == "https://example.org/recipes.git"
    assert fake_git.read_text().splitlines() == [
        f"-C {recipes} rev-parse HEAD",
        f"-C {recipes} remote get-url origin",
    ]


def test_outside_a_checkout_only_rev_parse_runs(fake_git: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "outside" / "a.py"
    assert (git.revision(recipe), git.origin(recipe)) == ("", "")
    assert fake_git.read_text().splitlines() == [f"-C {recipe.parent} rev-parse HEAD"]
