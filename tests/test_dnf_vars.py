"""dnf's variables ($stream, $releasever ...) in .repo files: the host's dnf and the inputs digest
read the same varsdirs the same way, so both look at the same repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import attrs
import pytest
from plans import sample_plan

from buildahpy.host import dnf
from buildahpy.plan import plan
from buildahpy.plan import repos as repos_mod


def two_varsdirs(tmp_path: Path) -> tuple[str, str]:
    """$stream in two varsdirs: dnf reads a file's first line, a later directory over an earlier."""
    first, second = tmp_path / "vars-a", tmp_path / "vars-b"
    first.mkdir()
    second.mkdir()
    (first / "stream").write_text("old\n")
    (second / "stream").write_text("new\nnot part of the value\n")
    (first / "only_first").write_text("kept \n")
    return str(first), str(second)


def test_a_later_varsdir_wins_and_a_value_is_its_files_first_line(tmp_path: Path) -> None:
    found = repos_mod.dnf_vars("40", two_varsdirs(tmp_path))
    assert found["stream"] == "new"
    assert found["only_first"] == "kept "  # dnf keeps the line as written, but its newline
    assert found["releasever"] == "40" and found["basearch"]


def test_the_releasever_given_wins_over_a_varsdir_file(tmp_path: Path) -> None:
    (tmp_path / "releasever").write_text("39\n")
    assert repos_mod.dnf_vars("40", [str(tmp_path)])["releasever"] == "40"


@pytest.mark.parametrize("flavour", [dnf.DNF4, dnf.DNF5])
def test_both_flavours_read_the_hosts_varsdirs(flavour: str) -> None:
    # without it dnf4 (4.14) and dnf5 read vars from inside the empty installroot once reposdir
    # is given on the command line
    argv = dnf.install_argv(sample_plan(flavour), "/mnt", ["bash"])
    assert "--setopt=varsdir=/etc/dnf/vars" in argv


@pytest.mark.integration
def test_the_hosts_dnf_and_the_inputs_digest_resolve_one_url(
    tmp_path: Path, real_tools: None
) -> None:
    repos = tmp_path / "repos"
    (repos / "new").mkdir(parents=True)
    subprocess.run(["createrepo_c", "--quiet", str(repos / "new")], check=True)
    reposd = tmp_path / "repos.d"
    reposd.mkdir()
    repo_file = reposd / "s.repo"
    repo_file.write_text(f"[s]\nbaseurl=file://{repos}/$stream/\ngpgcheck=0\n")
    the_plan = attrs.evolve(
        sample_plan(dnf.host_flavour(), workdir=str(tmp_path / "w")),
        reposdirs=(str(reposd),),
        varsdirs=two_varsdirs(tmp_path),
    )
    (tmp_path / "w").mkdir()
    Path(the_plan.dnf_conf).write_text(plan.dnf_conf(the_plan))
    (tmp_path / "root").mkdir()

    result = subprocess.run(
        dnf.makecache_argv(the_plan, str(tmp_path / "root")),
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LC_ALL": "C.UTF-8"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr  # only repos/new/ is a repository

    variables = repos_mod.dnf_vars(the_plan.target.releasever, the_plan.varsdirs)
    (repo,) = repos_mod.enabled_repos([repo_file], variables)
    assert repo.url == f"file://{repos}/new/"
