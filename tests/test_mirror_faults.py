"""What dnf printed when a mirror misbehaved, read as data: the retries a successful run took,
a download that timed out, a repository that changed during the build; and --dnf-timeout."""

from __future__ import annotations

import urllib.error
from email.message import Message
from pathlib import Path

import attrs
import pytest
from plans import planned, sample_plan

from buildahpy import __main__ as cli
from buildahpy.build import resync
from buildahpy.build.packages import retries_note
from buildahpy.errors import CommandError
from buildahpy.host import dnf, repomd
from buildahpy.host.rootfs import RootFS
from buildahpy.host.tools import Completed
from buildahpy.plan.plan import Options, dnf_conf
from buildahpy.plan.repos import Repo, load

# dnf 4.14 (Debian 12), two 503s for busybox from scripts/latency_mirror.py, then the download
DNF4_RETRIED = """\
Dependencies resolved.
================================================================================
 Package          Architecture    Version                Repository        Size
================================================================================
Installing:
 busybox          x86_64          1.35.0-1.fc40          fixture          1.1 M

Transaction Summary
================================================================================
Install  1 Package

Total download size: 1.1 M
Installed size: 1.9 M
Downloading Packages:
[MIRROR] busybox-1.35.0-1.fc40.x86_64.rpm: Status code: 503 for http://127.0.0.1:40175/Packages/busybox-1.35.0-1.fc40.x86_64.rpm (IP: 127.0.0.1)
[MIRROR] busybox-1.35.0-1.fc40.x86_64.rpm: Status code: 503 for http://127.0.0.1:40175/Packages/busybox-1.35.0-1.fc40.x86_64.rpm (IP: 127.0.0.1)
busybox-1.35.0-1.fc40.x86_64.rpm                 11 MB/s | 1.1 MB     00:00
Running transaction
"""  # noqa: E501 - dnf's own lines

# dnf 5.4.6 (Debian sid), a body that stalled once past --dnf-timeout 1: two attempts failed
DNF5_RETRIED_STDERR = """\
>>> Curl error (28): Timeout was reached for http://127.0.0.1:36857/Packages/busybox-1.38.0-1.fc40.x86_64.rpm [Operation too slow. Less than 1000 bytes/sec transferred the last 1 seconds] - http://127.0.0.1:36857/Packages/busybox-1.38.0-1.fc40.x86_64.rpm
>>> Interrupted by header callback: Inconsistent server data, reported file Content-Length: 1184068, repository metadata states file length: 1184068 (please report to repository maintainer) - http://127.0.0.1:36857/Packages/busybox-1.38.0-1.fc40.x86_64.rpm
"""  # noqa: E501

DNF4_TIMEOUT = "[MIRROR] busybox-1.35.0-1.fc40.x86_64.rpm: Curl error (28): Timeout was reached for http://127.0.0.1:34797/Packages/busybox-1.35.0-1.fc40.x86_64.rpm [Operation too slow. Less than 1000 bytes/sec transferred the last 1 seconds]\n"  # noqa: E501
DNF4_TIMED_OUT = (
    DNF4_RETRIED.split("Downloading Packages:")[0]
    + "Downloading Packages:\n"
    + DNF4_TIMEOUT * 4
    + "[FAILED] busybox-1.35.0-1.fc40.x86_64.rpm: No more mirrors to try - All mirrors were"
    " already tried without success\n"
)

DNF5_TABLE = """\
Package                 Arch   Version                 Repository      Size
Installing:
 busybox                x86_64 1.38.0-1.fc40           fixture      1.9 MiB
"""
DNF5_TIMEOUT = ">>> Curl error (28): Timeout was reached for http://127.0.0.1:43305/Packages/busybox-1.38.0-1.fc40.x86_64.rpm [Operation too slow. Less than 1000 bytes/sec transferred the last 1 seconds] - http://127.0.0.1:43305/Packages/busybox-1.38.0-1.fc40.x86_64.rpm\n"  # noqa: E501
DNF5_TIMED_OUT_STDERR = (
    DNF5_TIMEOUT * 3
    + ">>> No more mirrors to try - All mirrors were already tried without success\n"
    + " Librepo error: Cannot download Packages/busybox-1.38.0-1.fc40.x86_64.rpm:"
    " All mirrors were tried\n"
)


def done(stdout: str = "", stderr: str = "") -> Completed:
    return Completed(("dnf",), stdout, stderr)


def test_dnf4_retries_are_its_mirror_lines() -> None:
    flavour = dnf.FLAVOURS[dnf.DNF4]
    assert flavour.download_retries(done(DNF4_RETRIED)) == 2
    assert flavour.download_retries(done(DNF4_RETRIED.replace("[MIRROR]", "x"))) == 0


def test_dnf5_retries_are_librepos_attempt_lines() -> None:
    flavour = dnf.FLAVOURS[dnf.DNF5]
    assert flavour.download_retries(done(DNF5_TABLE, DNF5_RETRIED_STDERR)) == 2
    assert flavour.download_retries(done(DNF5_TABLE, "")) == 0
    # librepo's closing line of a failed download is no attempt of its own
    assert flavour.download_retries(done("", DNF5_TIMED_OUT_STDERR)) == 3
    # a progress bar's messages are no attempts (seen once on a file:// build)
    scriptlet = ">>> Running %post scriptlet: busybox-0:1.35.0-1.fc40.x86_64\n>>> [RPM] warning\n"
    assert flavour.download_retries(done(DNF5_TABLE, scriptlet)) == 0
    assert flavour.download_retries(done(DNF5_TABLE, scriptlet + DNF5_RETRIED_STDERR)) == 2


def test_the_retries_note_on_the_dnf_line() -> None:
    assert retries_note(0) == ""
    assert retries_note(1) == " (1 download retry)"
    assert retries_note(2) == " (2 download retries)"


def test_a_timed_out_download_says_so_with_the_file_repository_and_tries() -> None:
    stderr = "Error: Error downloading packages:\n  busybox-1.35.0-1.fc40.x86_64: Cannot download"
    assert dnf.FLAVOURS[dnf.DNF4].explain_failure(DNF4_TIMED_OUT, stderr) == (
        "cannot download busybox-1.35.0-1.fc40.x86_64.rpm from repository fixture: timed out"
        " (less than 1000 bytes/sec transferred the last 1 seconds; 4 tries) at"
        " http://127.0.0.1:34797/Packages/busybox-1.35.0-1.fc40.x86_64.rpm;"
        " --dnf-timeout SECONDS sets how long dnf waits"
    )


def test_a_dnf5_download_names_the_last_real_cause_not_librepos_closing_line() -> None:
    """dnf5's last '>>>' line is 'No more mirrors to try': the cause was the line before."""
    assert dnf.FLAVOURS[dnf.DNF5].explain_failure(DNF5_TABLE, DNF5_TIMED_OUT_STDERR) == (
        "cannot download busybox-1.38.0-1.fc40.x86_64.rpm from repository fixture: timed out"
        " (less than 1000 bytes/sec transferred the last 1 seconds; 3 tries) at"
        " http://127.0.0.1:43305/Packages/busybox-1.38.0-1.fc40.x86_64.rpm;"
        " --dnf-timeout SECONDS sets how long dnf waits"
    )


@pytest.mark.parametrize("flavour", [dnf.DNF4, dnf.DNF5])
def test_dnf_timeout_goes_into_dnf_conf(tmp_path: Path, flavour: str) -> None:
    plan = planned(tmp_path, flavour)
    assert not [line for line in dnf_conf(plan).splitlines() if line.startswith("timeout")]
    timed = attrs.evolve(plan, dnf_timeout=5)
    assert "timeout=5" in dnf_conf(timed).splitlines()


def test_dnf_timeout_on_the_command_line_and_not_in_the_images_inputs() -> None:
    args = cli.parse_args(["r.py", "--dnf-timeout", "7"])
    assert args.dnf_timeout == 7
    assert cli.parse_args(["r.py"]).dnf_timeout == 0
    for bad in ("0", "x", "-3"):
        with pytest.raises(SystemExit):
            cli.parse_args(["r.py", "--dnf-timeout", bad])
    assert repr(Options(dnf_timeout=7)) == repr(Options())


def gone(port_path: str) -> CommandError:
    hint = (
        "cannot download busybox-1.35.0-1.fc40.x86_64.rpm from repository fixture: Status code:"
        f" 404 for {port_path}/Packages/busybox-1.35.0-1.fc40.x86_64.rpm (IP: 127.0.0.1)"
    )
    return CommandError(["dnf"], 1, "", hint=hint)


def test_a_404_after_the_repository_changed_says_it_changed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "repodata").mkdir(parents=True)
    (repo / "repodata" / "repomd.xml").write_text("<repomd>revision 2</repomd>")
    cache = tmp_path / "cache"
    (cache / "fixture-0123abcd" / "repodata").mkdir(parents=True)
    read = cache / "fixture-0123abcd" / "repodata" / "repomd.xml"
    read.write_text("<repomd>revision 1</repomd>")
    repo_file = tmp_path / "f.repo"
    repo_file.write_text(f"[fixture]\nbaseurl=file://{repo}\ngpgcheck=0\n")
    plan = sample_plan(cachedir=str(cache), private_repos=tuple(load([repo_file])))
    image = tmp_path / "image"
    image.mkdir()
    with RootFS(image) as rootfs:
        error = resync.changed_repository(gone(f"file://{repo}"), plan, rootfs)
        assert error.hint == (
            "repository fixture changed during the build (its metadata is not the one dnf read:"
            " a mirror sync): busybox-1.35.0-1.fc40.x86_64.rpm is no longer in it; build again"
            " to use the new metadata"
        )
        read.write_bytes((repo / "repodata" / "repomd.xml").read_bytes())  # unchanged: a 404
        same = gone(f"file://{repo}")
        assert resync.changed_repository(same, plan, rootfs) is same
        other = CommandError(["dnf"], 1, "", hint="dnf failed")
        assert resync.changed_repository(other, plan, rootfs) is other


def test_a_revision_read_is_retried_after_a_passing_mirror_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One 503 of repomd.xml must not leave the run without a shared cache, every image
    rebuilt; a 404 or a local path is no passing error."""
    answers: list[object] = [
        urllib.error.HTTPError("http://m/repodata/repomd.xml", 503, "busy", Message(), None),
        ConnectionResetError(104, "reset"),
        "abc",
    ]

    def revision(repo: Repo) -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    monkeypatch.setattr(repomd, "revision", revision)
    monkeypatch.setattr(repomd, "_RETRY_PAUSE", 0.0)
    assert repomd.revisions([Repo("r", "baseurl", "http://m/")]) == {"r": "abc"}
    answers[:] = [urllib.error.HTTPError("http://m/x", 404, "gone", Message(), None), "abc"]
    assert repomd.revisions([Repo("r", "baseurl", "http://m/")]) == {"r": None}
    answers[:] = [FileNotFoundError(2, "none"), "abc"]
    assert repomd.revisions([Repo("r", "baseurl", "file:///srv/r")]) == {"r": None}
