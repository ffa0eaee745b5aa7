"""sysusers.d: the parser and the planner as data, the applier on a temporary rootfs, and the
helper as rpm >= 4.19 runs it (``%__systemd_sysusers --replace PATH --root ROOT -``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from buildahpy.build import accounts, sysusers
from buildahpy.errors import BuildError
from buildahpy.host.rootfs import RootFS
from buildahpy.plan.sysusers import (
    NOLOGIN,
    AddGroup,
    AddMember,
    AddUser,
    Entry,
    parse,
    parse_line,
    plan,
)

ROOT = Path(__file__).resolve().parent.parent
PASSWD = "root:x:0:0:Super User:/root:/bin/bash\nbin:x:1:1:bin:/bin:/sbin/nologin\n"
GROUP = "root:x:0:\nbin:x:1:\nwheel:x:10:\n"

# Shaped like what Fedora packages ship in /usr/lib/sysusers.d
NGINX_CONF = """\
# nginx.conf
u nginx - "Nginx web server" /var/lib/nginx /sbin/nologin
"""


@pytest.mark.parametrize(
    ("line", "entry"),
    [
        (
            'u nginx - "Nginx web server" /var/lib/nginx',
            Entry("u", "nginx", "-", "Nginx web server", "/var/lib/nginx", "/usr/sbin/nologin"),
        ),
        (
            'u! dbus 81 "System message bus"',
            Entry("u", "dbus", "81", "System message bus", "/", "/usr/sbin/nologin"),
        ),
        (
            "u tss 59:tss - /dev/null /bin/false",
            Entry("u", "tss", "59:tss", "", "/dev/null", "/bin/false"),
        ),
        ('u root 0 "Super User" /root', Entry("u", "root", "0", "Super User", "/root", "/bin/sh")),
        (
            "u authd /usr/bin/authd",
            Entry("u", "authd", "/usr/bin/authd", "", "/", "/usr/sbin/nologin"),
        ),
        ("g input -", Entry("g", "input", "-")),
        ("g kvm 36", Entry("g", "kvm", "36")),
        ("g render /dev/dri", Entry("g", "render", "/dev/dri")),
        ("m nginx wheel", Entry("m", "nginx", "wheel")),
        ("r - 500-900", Entry("r", "-", "500-900")),
    ],
)
def test_parse_line(line: str, entry: Entry) -> None:
    assert parse_line(line) == entry


@pytest.mark.parametrize("line", ["", "   ", "# comment", "  # indented comment"])
def test_blank_and_comment_lines_are_skipped(line: str) -> None:
    assert parse_line(line) is None


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("x foo -", "unsupported"),
        ("u", "unsupported"),
        ("u Bad;Name -", "invalid user name"),
        ('u foo - "a:b"', "must not contain ':'"),
        ("u foo - - relative/home", "absolute path"),
        ('u foo - "unterminated', "cannot parse"),
        ("m foo ../etc", "invalid group name"),
    ],
)
def test_lines_that_cannot_be_used_name_the_file_and_line(line: str, needle: str) -> None:
    with pytest.raises(BuildError, match=needle) as info:
        parse(f"# head\n{line}\n", "/usr/lib/sysusers.d/x.conf")
    assert "/usr/lib/sysusers.d/x.conf:2" in str(info.value)


def test_automatic_ids_count_down_from_the_top_of_the_system_range() -> None:
    entries = parse(NGINX_CONF + 'u apache - "Apache" /usr/share/httpd\n')
    assert plan(entries, PASSWD, GROUP) == [
        AddGroup("nginx", 999),
        AddUser("nginx", 999, 999, "Nginx web server", "/var/lib/nginx", "/sbin/nologin"),
        AddGroup("apache", 998),
        AddUser("apache", 998, 998, "Apache", "/usr/share/httpd", "/usr/sbin/nologin"),
    ]


def test_login_defs_and_r_lines_bound_the_allocation() -> None:
    defs = "SYS_UID_MIN 201\nSYS_UID_MAX 500\nSYS_GID_MIN 201\nSYS_GID_MAX 480\n"
    assert plan(parse("g grp -\n"), PASSWD, GROUP, defs) == [AddGroup("grp", 480)]
    ranged = parse("r - 300-310\ng grp -\n")
    assert plan(ranged, PASSWD, GROUP + "x:x:310:\n", defs) == [AddGroup("grp", 309)]


def test_explicit_ids_and_the_same_number_for_the_users_group() -> None:
    assert plan(parse('u nginx 975 "Nginx" /var/lib/nginx\n'), PASSWD, GROUP) == [
        AddGroup("nginx", 975),
        AddUser("nginx", 975, 975, "Nginx", "/var/lib/nginx", "/usr/sbin/nologin"),
    ]


def test_uid_colon_gid_forms() -> None:
    numeric = plan(parse("u svc 400:401\n"), PASSWD, GROUP)
    assert numeric == [AddGroup("svc", 401), AddUser("svc", 400, 401, "", "/", NOLOGIN)]
    named = plan(parse("u svc 400:wheel\n"), PASSWD, GROUP)
    assert named == [AddUser("svc", 400, 10, "", "/", NOLOGIN)]
    with pytest.raises(BuildError, match="group 'nosuch' of user 'svc' does not exist"):
        plan(parse("u svc 400:nosuch\n"), PASSWD, GROUP)


def test_taken_ids_fall_back_to_allocation_and_existing_entries_win() -> None:
    passwd = PASSWD + "nginx:x:975:975::/:/sbin/nologin\n"
    group = GROUP + "nginx:x:975:\n"
    assert plan(parse(NGINX_CONF), passwd, group) == []
    assert plan(parse("u other 1\n"), PASSWD, GROUP) == [
        AddGroup("other", 999),
        AddUser("other", 999, 999, "", "/", NOLOGIN),
    ]


def test_ids_from_a_files_owner() -> None:
    owners = {"/usr/bin/authd": (420, 421)}
    actions = plan(
        parse("u authd /usr/bin/authd\ng render /dev/dri\n"), PASSWD, GROUP, owner=owners.get
    )
    assert actions == [
        AddGroup("render", 999),  # /dev/dri is not in the image: allocated
        AddGroup("authd", 421),
        AddUser("authd", 420, 421, "", "/", NOLOGIN),
    ]


def test_groups_before_users_and_members_last() -> None:
    text = "m nginx web\nu nginx -\ng web 480\n"
    assert plan(parse(text), PASSWD, GROUP) == [
        AddGroup("web", 480),
        AddGroup("nginx", 999),
        AddUser("nginx", 999, 999, "", "/", NOLOGIN),
        AddMember("nginx", "web"),
    ]
    assert plan(parse("m bin wheel\n"), PASSWD, GROUP.replace("10:", "10:bin")) == []
    with pytest.raises(BuildError, match="cannot add 'ghost' to 'wheel'"):
        plan(parse("m ghost wheel\n"), PASSWD, GROUP)


@pytest.fixture
def rootfs(tmp_path: Path) -> RootFS:
    base = tmp_path / "rootfs"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "passwd").write_text(PASSWD)
    (base / "etc" / "group").write_text(GROUP)
    (base / "etc" / "gshadow").write_text("root:::\nwheel:::\n")
    (base / "usr" / "lib" / "sysusers.d").mkdir(parents=True)
    return RootFS(base)


def test_apply_writes_passwd_group_and_gshadow_once(rootfs: RootFS) -> None:
    entries = parse(NGINX_CONF + "m nginx wheel\n")
    assert len(sysusers.apply(rootfs, entries)) == 3
    etc = rootfs.path / "etc"
    assert (
        "nginx:x:999:999:Nginx web server:/var/lib/nginx:/sbin/nologin\n"
        in (etc / "passwd").read_text()
    )
    assert "nginx:x:999:\n" in (etc / "group").read_text()
    assert "wheel:x:10:nginx\n" in (etc / "group").read_text()
    assert "wheel:::nginx\n" in (etc / "gshadow").read_text()
    before = {p.name: p.read_bytes() for p in etc.iterdir()}
    assert sysusers.apply(rootfs, entries) == []
    assert {p.name: p.read_bytes() for p in etc.iterdir()} == before


def test_declared_reads_every_sysusers_dir_with_etc_overriding(rootfs: RootFS) -> None:
    lib = rootfs.path / "usr" / "lib" / "sysusers.d"
    (lib / "b-nginx.conf").write_text(NGINX_CONF)
    (lib / "a-web.conf").write_text("g web -\n")
    (lib / "README").write_text("u ignored -\n")
    (rootfs.path / "etc" / "sysusers.d").mkdir()
    (rootfs.path / "etc" / "sysusers.d" / "a-web.conf").write_text("g web 480\n")
    names = [(e.kind, e.name, e.ident) for e in sysusers.declared(rootfs)]
    assert names == [("g", "web", "480"), ("u", "nginx", "-")]
    sysusers.apply_declared(rootfs)
    assert "web:x:480:\n" in (rootfs.path / "etc" / "group").read_text()


def test_declared_stays_inside_the_image(rootfs: RootFS, tmp_path: Path) -> None:
    host = tmp_path / "host-sysusers"
    host.mkdir()
    (host / "evil.conf").write_text("u evil 0\n")
    os.rmdir(rootfs.path / "usr" / "lib" / "sysusers.d")
    os.symlink(str(host), rootfs.path / "usr" / "lib" / "sysusers.d")
    assert sysusers.declared(rootfs) == []


def test_helper_runs_as_rpm_calls_it(rootfs: RootFS) -> None:
    """rpm >= 4.19: ``%__systemd_sysusers --replace <file> --root <root> -``, lines on stdin."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "buildahpy.build.sysusers",
            "--replace",
            "/usr/lib/sysusers.d/nginx.conf",
            "--root",
            str(rootfs.path),
            "-",
        ],
        input=NGINX_CONF,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "nginx:x:999:999:" in (rootfs.path / "etc" / "passwd").read_text()
    bad = subprocess.run(
        [sys.executable, "-m", "buildahpy.build.sysusers", "--root", str(rootfs.path), "-"],
        input="u svc 1:nosuch\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert bad.returncode == 1
    assert "group 'nosuch' of user 'svc' does not exist" in bad.stderr


@pytest.mark.parametrize("argv", [["-"], ["--replace", "/usr/lib/sysusers.d/x.conf", "-"]])
@pytest.mark.parametrize("root", [[], ["--root", "/"], ["--root", "/usr/.."]])
def test_helper_without_an_image_root_refuses_and_opens_nothing(
    argv: list[str],
    root: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # rpm gives --root for an --installroot transaction; without one (or with /) the helper
    # would edit the host's /etc/passwd
    opened: list[Path] = []
    monkeypatch.setattr(sysusers, "RootFS", lambda path: opened.append(path))
    assert sysusers.main([*root, *argv], stdin=["u svc - - /\n"]) == 2
    assert opened == []
    assert "refusing to edit the host's users and groups" in capsys.readouterr().err


def test_account_files_left_as_rpmnew_are_merged_in(rootfs: RootFS) -> None:
    """setup installed after a user was made: rpm keeps the live /etc/passwd (noreplace) and
    leaves setup's beside it; the image must get root back and keep the user (seen with rpm 6
    and a sysusers.d package installed before setup)."""
    etc = rootfs.path / "etc"
    (etc / "passwd").write_text("sysd:x:999:999:d:/var/lib/sysd:/usr/sbin/nologin\n")
    (etc / "passwd.rpmnew").write_text(PASSWD)
    (etc / "group").write_text("sysd:x:999:\nwheel:x:10:sysd\n")
    (etc / "group.rpmnew").write_text(GROUP)
    (etc / "shadow.rpmnew").write_text("root:*::0:::::\n")
    os.chmod(etc / "shadow.rpmnew", 0o000)
    merged = accounts.adopt_rpmnew(rootfs)
    assert merged == ["/etc/passwd", "/etc/group", "/etc/shadow"]
    assert (etc / "passwd").read_text() == PASSWD + (
        "sysd:x:999:999:d:/var/lib/sysd:/usr/sbin/nologin\n"
    )
    # the live entry wins where both have one: wheel keeps its member
    assert (etc / "group").read_text() == "root:x:0:\nbin:x:1:\nwheel:x:10:sysd\nsysd:x:999:\n"
    assert (etc / "shadow").read_text() == "root:*::0:::::\n"
    assert (etc / "shadow").stat().st_mode & 0o777 == 0
    assert not list(etc.glob("*.rpmnew"))
    assert accounts.adopt_rpmnew(rootfs) == []
