"""How many packages an install added, read from dnf's own transaction summary (so no rpm run
asks the rpmdb again). The text is what dnf 4.14 printed for recipes/nginx.py on Debian 12."""

from __future__ import annotations

import pytest

from buildahpy.host import dnf

NGINX = """Last metadata expiration check: 0:05:34 ago on Wed Dec  2 00:50:34 2026.
Dependencies resolved.
================================================================================
 Package                         Arch     Version               Repo       Size
================================================================================
Installing:
 coreutils-single                x86_64   9.1-1.fc40            fixture   1.0 M
 nginx                           x86_64   1.22.1-1.fc40         fixture   650 k
Installing dependencies:
 glibc                           x86_64   2.36-1.fc40           fixture   1.9 M

Transaction Summary
================================================================================
Install  17 Packages

Total size: 8.5 M
Installed size: 18 M
Downloading Packages:
Running transaction check
"""


def summary(*lines: str) -> str:
    return "Transaction Summary\n" + "=" * 80 + "\n" + "\n".join(lines) + "\n\nTotal size: 1 M\n"


def test_dnf4_install_count_is_read_from_its_summary() -> None:
    assert dnf.FLAVOURS[dnf.DNF4].added_count(NGINX) == 17
    assert dnf.FLAVOURS[dnf.DNF4].added_count(summary("Install  1 Package")) == 1


@pytest.mark.parametrize(
    "stdout",
    [
        "Package nginx is already installed.\nDependencies resolved.\nNothing to do.\nComplete!\n",
        summary("Install  3 Packages", "Upgrade  1 Package"),  # names may not all be new
        summary("Install  2 Packages", "Remove   1 Package"),
        "",
    ],
)
def test_anything_but_plain_installs_leaves_the_count_to_the_rpmdb(stdout: str) -> None:
    assert dnf.FLAVOURS[dnf.DNF4].added_count(stdout) is None


def test_dnf5_summary_is_not_read() -> None:
    """dnf5's summary is worded otherwise: its builds keep asking the rpmdb."""
    assert dnf.FLAVOURS[dnf.DNF5].added_count(NGINX) is None
