import pytest

from buildahpy.errors import UsageError
from buildahpy.plan.distro import HostRelease, Target, parse_os_release, resolve_target

FEDORA40 = parse_os_release('NAME="Fedora Linux"\nID=fedora\nVERSION_ID=40\n')
DEBIAN = parse_os_release('ID=debian\nVERSION_ID="12"\n')
CENTOS = parse_os_release('ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="9"\n')


@pytest.mark.parametrize(
    ("family", "release", "path"),
    [
        ("fedora", "35", "/var/lib/rpm"),
        ("fedora", "36", "/usr/lib/sysimage/rpm"),
        ("fedora", "rawhide", "/usr/lib/sysimage/rpm"),
        ("centos-stream", "9", "/var/lib/rpm"),
        ("centos-stream", "10", "/usr/lib/sysimage/rpm"),
        ("rhel", "9.4", "/var/lib/rpm"),
        ("rhel", "10.0", "/usr/lib/sysimage/rpm"),
    ],
)
def test_rpmdb_path_follows_the_target_release(family: str, release: str, path: str) -> None:
    assert Target(family, release).rpmdb_path == path


def test_host_release_is_the_default_on_an_rpm_host() -> None:
    target = resolve_target(
        cli_distro=None,
        cli_releasever=None,
        recipe_distro=None,
        recipe_releasever=None,
        host=FEDORA40,
    )
    assert target == Target("fedora", "40")
    centos = resolve_target(
        cli_distro=None,
        cli_releasever=None,
        recipe_distro=None,
        recipe_releasever=None,
        host=CENTOS,
    )
    assert centos == Target("centos-stream", "9")


def test_command_line_beats_recipe_beats_host() -> None:
    target = resolve_target(
        cli_distro="centos-stream",
        cli_releasever="10",
        recipe_distro="fedora",
        recipe_releasever="39",
        host=FEDORA40,
    )
    assert target == Target("centos-stream", "10")
    target = resolve_target(
        cli_distro=None,
        cli_releasever=None,
        recipe_distro="fedora",
        recipe_releasever="39",
        host=FEDORA40,
    )
    assert target == Target("fedora", "39")


def test_non_rpm_host_needs_a_release() -> None:
    with pytest.raises(UsageError, match="cannot determine the fedora release"):
        resolve_target(
            cli_distro=None,
            cli_releasever=None,
            recipe_distro=None,
            recipe_releasever=None,
            host=DEBIAN,
        )
    target = resolve_target(
        cli_distro=None,
        cli_releasever="42",
        recipe_distro=None,
        recipe_releasever=None,
        host=DEBIAN,
    )
    assert target == Target("fedora", "42")


def test_other_family_than_host_needs_a_release() -> None:
    with pytest.raises(UsageError):
        resolve_target(
            cli_distro="rhel",
            cli_releasever=None,
            recipe_distro=None,
            recipe_releasever=None,
            host=FEDORA40,
        )


@pytest.mark.parametrize("bad", ["42; rm", "4 2", "../x"])
def test_bad_release_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError):
        resolve_target(
            cli_distro=None,
            cli_releasever=bad,
            recipe_distro=None,
            recipe_releasever=None,
            host=HostRelease("debian", "12", ()),
        )


def test_unknown_distro_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown distro 'arch'"):
        resolve_target(
            cli_distro="arch",
            cli_releasever="1",
            recipe_distro=None,
            recipe_releasever=None,
            host=DEBIAN,
        )


def host_default(os_release: str) -> Target:
    return resolve_target(
        cli_distro=None,
        cli_releasever=None,
        recipe_distro=None,
        recipe_releasever=None,
        host=parse_os_release(os_release),
    )


@pytest.mark.parametrize(
    ("os_release", "target"),
    [
        # EL's os-release carries the minor release; dnf's $releasever there is the major
        ('ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n', Target("rhel", "9")),
        (
            'ID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
            Target("almalinux", "9"),
        ),
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.10"\n', Target("rocky", "8")),
        ('ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="10"\n', Target("centos-stream", "10")),
        ("ID=fedora\nVERSION_ID=41\n", Target("fedora", "41")),
        ("ID=fedora\nVERSION_ID=rawhide\n", Target("fedora", "rawhide")),
    ],
)
def test_the_hosts_release_is_the_one_its_dnf_uses(os_release: str, target: Target) -> None:
    assert host_default(os_release) == target


def test_a_release_given_with_its_minor_is_kept() -> None:
    target = resolve_target(
        cli_distro=None,
        cli_releasever="9.4",
        recipe_distro=None,
        recipe_releasever=None,
        host=parse_os_release('ID="rhel"\nVERSION_ID="9.4"\n'),
    )
    assert target == Target("rhel", "9.4")
