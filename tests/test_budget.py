"""Size budgets as data: sizes with units, shares, checked when the recipe file loads, and the
one line a build over its budget fails with."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildahpy.api.budget import Budget, Growth, parse_growth, parse_size
from buildahpy.api.recipe import load_file
from buildahpy.build.budget import budget_failure
from buildahpy.errors import RecipeError
from buildahpy.plan.imagediff import PackageChange


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("25 MB", 25_000_000),
        ("25MB", 25_000_000),
        ("1.5 MiB", 1_572_864),
        ("300 kB", 300_000),
        ("2 KiB", 2048),
        ("1 GB", 10**9),
        ("3 GiB", 3 * 2**30),
        ("512", 512),
        (4096, 4096),
    ],
)
def test_sizes_with_units(text: object, size: int) -> None:
    assert parse_size(text, "max_size") == size


@pytest.mark.parametrize("text", ["25 XB", "MB", "-1 MB", "", "1,5 MB", True, 2.5])
def test_a_size_that_is_not_one_is_refused(text: object) -> None:
    with pytest.raises(ValueError, match=r"max_size=.*expected a size such as '25 MB'"):
        parse_size(text, "max_size")


def test_growth_is_a_share_or_a_size() -> None:
    assert parse_growth("5%") == Growth(percent=5.0)
    assert parse_growth("5%").allowed(1_000_000) == 50_000
    assert parse_growth("2 MB").allowed(1) == 2_000_000
    with pytest.raises(ValueError, match="max_growth='five percent'"):
        parse_growth("five percent")


def test_a_bad_budget_names_the_recipe_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    path.write_text(
        "from buildahpy import recipe\n\n"
        '@recipe("localhost/app", max_size="25 XB")\n'
        "def app(image):\n"
        "    pass\n"
    )
    with pytest.raises(RecipeError, match=r"app.py:3: max_size='25 XB': expected a size"):
        load_file(path)


def test_a_recipe_keeps_its_budget(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    path.write_text(
        "from buildahpy import recipe\n\n"
        '@recipe("localhost/app", max_size="25 MB", max_growth="5%")\n'
        "def app(image):\n"
        "    pass\n"
    )
    (entry,) = load_file(path)
    assert entry.budget.max_size == 25_000_000
    assert entry.budget.max_growth == Growth(percent=5.0)
    assert not entry.budget.empty


LARGEST = (("glibc", 4_550_000), ("busybox", 1_980_000), ("bash", 1_280_000), ("zlib", 9))
GREW = (
    PackageChange("busybox", "added", "", "busybox-1.35.0-1.fc40.x86_64", 0, 1_980_000),
    PackageChange("bash", "upgraded", "bash-5.1-1.x86_64", "bash-5.2-1.x86_64", 100, 130),
    PackageChange("zlib", "removed", "zlib-1-1.x86_64", "", 500, 0),
)


def test_within_the_budget_there_is_nothing_to_say() -> None:
    budget = Budget.from_options("25 MB", "5%")
    assert budget_failure(budget, 25_000_000, LARGEST, ("app:latest", 24_000_000), GREW) is None
    # growth is measured against the image under the tag: none there, nothing to grow from
    assert budget_failure(Budget.from_options(None, "5%"), 10**9, LARGEST, None) is None


def test_over_max_size_names_the_largest_packages() -> None:
    message = budget_failure(Budget.from_options("7 MB", None), 7_860_000, LARGEST, None)
    assert message == (
        "over its size budget: 7.86 MB is over max_size 7 MB; largest packages: "
        "glibc 4.55 MB, busybox 1.98 MB, bash 1.28 MB; the tag was not moved"
    )


def test_over_max_growth_names_what_grew() -> None:
    message = budget_failure(
        Budget.from_options(None, "5%"), 9_850_000, LARGEST, ("app:latest 8f85", 7_860_000), GREW
    )
    assert message == (
        "over its size budget: it grew +1.99 MB (+25.3%) against app:latest 8f85 (7.86 MB), "
        "over max_growth 5%; largest packages: glibc 4.55 MB, busybox 1.98 MB, bash 1.28 MB; "
        "what grew: busybox added +1.98 MB, bash upgraded 5.1-1.x86_64 -> "
        "5.2-1.x86_64 +30 B; the tag was not moved"
    )
    assert "\n" not in message


def test_growth_outside_the_packages_says_so() -> None:
    message = budget_failure(
        Budget.from_options(None, "1 kB"), 5000, LARGEST, ("app:latest", 1000), ()
    )
    assert message is not None
    assert "no package grew (the growth is in files outside the packages)" in message
