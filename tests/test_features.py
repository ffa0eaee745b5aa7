"""Feature detection from the tools' own help, the dnf for each flavour, buildah's --ulimit.

The help excerpts are what buildah 1.28 (Debian 12) and 1.43 (sid), dnf 4.14 and dnf5 5.4 and
rpm print; the last tests ask the host's real tools.
"""

from __future__ import annotations

import os
import resource
import shutil
import stat
from pathlib import Path

import pytest
from conftest import must_run
from plans import sample_plan

from buildahpy.errors import PreflightError
from buildahpy.host import buildah, dnf, features

BUILDAH_143_FROM = """
Usage:
  buildah from [flags]

Examples:
  buildah from --pull imagename

Flags:
      --add-host strings                             add a custom host-to-IP mapping
  -c, --cpu-shares uint                              CPU shares (relative weight)
      --pull string[="always"]                       pull images from the registry values:
                                                     always:    pull images from the registry
  -q, --quiet                                        don't output progress information
      --ulimit strings                               ulimit options
"""

BUILDAH_143_COMMIT = """
      --rewrite-timestamp              set timestamps in layer to no later than the value for
                                       --source-date-epoch
      --sbom preset                    scan working container using preset configuration
      --source-date-epoch seconds      set new timestamps in image info to seconds after the epoch
"""

BUILDAH_128_COMMIT = """
      --squash                 produce an image with only one layer
      --timestamp int          set created timestamp to the specified epoch seconds to allow
                               for deterministic builds, defaults to current time
"""

DNF4_HELP = """usage: dnf [options] COMMAND
optional arguments:
  --installroot [path]  set install root
  --noplugins           disable all plugins
  --enableplugin [plugin]
                        enable plugins by name
  --setopt SETOPTS      set arbitrary config and repo options
  -y, --assumeyes       automatically answer yes for all questions
"""

DNF5_HELP = """Global Options:
  --setopt=[REPO_ID.]OPTION=VALUE        set arbitrary config and repo options
  --no-plugins                           Disable all libdnf5 plugins
  --installroot=ABSOLUTE_PATH            set install root
  --use-host-config                      use configuration, reposdir, and vars from the host
  -y, --assumeyes                        automatically answer yes for all questions
"""


def test_options_are_read_from_the_flag_lists_only() -> None:
    found = features.parse_options(BUILDAH_143_FROM)
    assert {"--ulimit", "--pull", "--quiet", "--add-host", "--cpu-shares"} <= found
    assert "--help" not in found
    commit = features.parse_options(BUILDAH_143_COMMIT)
    assert {"--rewrite-timestamp", "--sbom", "--source-date-epoch"} <= commit
    # 1.28 names --source-date-epoch nowhere; a continuation line is prose, not a flag
    old = features.parse_options(BUILDAH_128_COMMIT)
    assert old == {"--squash", "--timestamp"}


def test_buildahs_own_ulimit_defaults() -> None:
    help_128 = "      --ulimit strings       ulimit options (default [nproc=32768:32768])\n"
    assert features.parse_default_ulimits(help_128) == {"nproc": "32768:32768"}
    assert features.parse_default_ulimits(BUILDAH_143_FROM) == {}


def test_dnf_global_options_in_both_layouts() -> None:
    dnf4 = features.parse_options(DNF4_HELP)
    dnf5 = features.parse_options(DNF5_HELP)
    assert {"--installroot", "--noplugins", "--setopt", "--assumeyes"} <= dnf4
    assert "--no-plugins" not in dnf4
    assert {"--installroot", "--no-plugins", "--setopt", "--use-host-config"} <= dnf5
    assert "--noplugins" not in dnf5


def test_querytags_one_per_line() -> None:
    tags = features.parse_querytags("ARCH\nFILESIZES\nLONGFILESIZES\nOPENPGP\n\n")
    assert tags == {"ARCH", "FILESIZES", "LONGFILESIZES", "OPENPGP"}


def fake_tool(bindir: Path, name: str, script: str) -> Path:
    path = bindir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_helps_are_read_once_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = tmp_path / "calls"
    fake_tool(tmp_path, "buildah", f'echo "$@" >> {calls}\necho "      --ulimit strings   x"')
    monkeypatch.setenv("PATH", str(tmp_path))
    features.forget()
    try:
        assert features.buildah_has("from", "--ulimit")
        assert features.buildah_has("from", "--ulimit")
        assert not features.buildah_has("from", "--sbom")
        assert calls.read_text().splitlines() == ["from --help"]
    finally:
        features.forget()


DNF4_SCRIPT = "#!/usr/bin/python3\nimport dnf\n"


def dnf_host(tmp_path: Path, *names: str) -> Path:
    """A PATH directory with Debian's layout: dnf -> dnf-3 (Python), dnf5 (a program)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in names:
        if name in ("dnf-3", "dnf4"):
            (bindir / name).write_text(DNF4_SCRIPT)
        elif name == "dnf5":
            fake_tool(bindir, "dnf5", "echo 'dnf5 version 5.4.6.0'")
        elif name == "dnf":
            (bindir / "dnf").symlink_to("dnf-3" if "dnf-3" in names else "dnf5")
        (bindir / name).chmod(0o755)
    return bindir


@pytest.mark.parametrize(
    ("installed", "asked", "expected"),
    [
        (("dnf5",), "dnf5", ("dnf5", dnf.DNF5)),  # Debian sid's dnf5: no 'dnf' at all
        (("dnf5",), "auto", ("dnf5", dnf.DNF5)),
        (("dnf-3", "dnf", "dnf5"), "auto", ("dnf", dnf.DNF4)),  # the host's 'dnf' decides
        (("dnf-3", "dnf", "dnf5"), "dnf5", ("dnf5", dnf.DNF5)),
        (("dnf-3", "dnf", "dnf5"), "dnf4", ("dnf", dnf.DNF4)),
        (("dnf5", "dnf"), "dnf5", ("dnf5", dnf.DNF5)),  # Fedora 41+: dnf -> dnf5
        (("dnf5", "dnf", "dnf4"), "dnf4", ("dnf4", dnf.DNF4)),
    ],
)
def test_the_dnf_of_each_flavour_is_found(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    installed: tuple[str, ...],
    asked: str,
    expected: tuple[str, str],
) -> None:
    monkeypatch.setenv("PATH", str(dnf_host(tmp_path, *installed)))
    assert dnf.find_dnf(asked) == expected


def test_a_missing_flavour_says_what_was_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(dnf_host(tmp_path, "dnf-3", "dnf")))
    with pytest.raises(PreflightError) as error:
        dnf.find_dnf(dnf.DNF5)
    message = str(error.value)
    assert "no dnf5 on this host" in message
    assert "'dnf' is dnf4" in message
    assert "apt-get install dnf5" in message


def test_cli_with_dnf5_only_passes_the_preflight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: "'dnf' is missing" (exit 2) on a host whose dnf5 package has no 'dnf'."""
    from buildahpy.host import preflight

    bindir = dnf_host(tmp_path, "dnf5")
    for tool in ("buildah", "rpm", "podman"):
        fake_tool(bindir, tool, "exit 0")
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    preflight.check_host()


def test_ulimits_are_the_current_ones() -> None:
    infinity = resource.RLIM_INFINITY
    argv = buildah.ulimit_argv({"nproc": (4096, 8192), "nofile": (1024, infinity)})
    assert argv == ["--ulimit=nofile=1024:-1", "--ulimit=nproc=4096:8192"]
    limits = buildah.current_limits()
    assert limits["nofile"] == resource.getrlimit(resource.RLIMIT_NOFILE)
    assert limits["nproc"] == resource.getrlimit(resource.RLIMIT_NPROC)
    # buildah 1.28 applies its own nproc default before ours: that one stays
    kept = buildah.ulimit_argv({"nproc": (96363, 96363)}, {"nproc": "32768:32768"})
    assert kept == ["--ulimit=nproc=32768:32768"]
    made = buildah.from_argv("c1", "scratch", argv)
    assert made == ["buildah", "from", "--name", "c1", "--pull=never", *argv, "scratch"]


def real(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if must_run():
            pytest.fail(f"{tool} is required here")
        pytest.skip(f"no {tool} on this host")
    return path


def test_the_host_tools_answer() -> None:
    real("buildah")
    real("rpm")
    assert "--ulimit" in features.buildah_options("from")
    assert {"LONGFILESIZES", "FILENAMES", "FILEMTIMES"} <= features.rpm_tags()


@pytest.mark.parametrize("flavour", [dnf.DNF4, dnf.DNF5])
def test_every_global_option_passed_is_one_the_real_dnf_lists(flavour: str) -> None:
    try:
        command, _ = dnf.find_dnf(flavour)
    except PreflightError:
        if flavour == dnf.DNF5 and not shutil.which("dnf5"):
            pytest.skip("no dnf5 on this host (Debian 12/13 ship none)")
        raise
    options = features.dnf_options(command)
    argv = dnf.install_argv(sample_plan(flavour), "/r", ["bash"])
    passed = {arg.split("=")[0] for arg in argv if arg.startswith("--")}
    assert passed - options == set(), sorted(options)
