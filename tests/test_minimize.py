"""Minimisation decisions as data: alternatives to hide, install-time-only packages, why-chains."""

import pytest

from buildahpy.api.recipe import recipe
from buildahpy.errors import RecipeError
from buildahpy.host.rpmdb import parse_query
from buildahpy.plan import minimize
from buildahpy.plan.packages import Package, doc_or_lang_bytes

PRE, POST, INTERP = 1 << 9, 1 << 10, 1 << 8


def pkg(name: str, requires=(), provides=(), weak=(), files=()) -> Package:
    return Package(
        name, f"{name}-1-1.x86_64", 100, tuple(requires), tuple(weak), tuple(provides), tuple(files)
    )


TABLE = minimize.preference_table(None)


def test_large_providers_are_hidden_unless_named_or_installed() -> None:
    hidden = minimize.excludes(TABLE, ["nginx"], [])
    assert {"glibc-all-langpacks", "glibc-langpack-*", "coreutils"} <= set(hidden)
    assert "coreutils" not in minimize.excludes(TABLE, ["nginx", "coreutils"], [])
    assert "glibc-all-langpacks" not in minimize.excludes(TABLE, ["glibc-langpack-de"], [])
    # a base that already has the full coreutils keeps it: hiding it would force a conflict
    assert "coreutils" not in minimize.excludes(TABLE, ["nginx"], ["coreutils"])


def test_recipes_extend_the_table() -> None:
    table = minimize.preference_table({"tiny-ssl": ["openssl-libs"]})
    assert "openssl-libs" in minimize.excludes(table, ["nginx"], [])


def test_only_scriptlet_requirements_make_a_package_install_time_only() -> None:
    packages = {
        "nginx": pkg(
            "nginx", [("libssl.so.3", 0), ("/bin/sh", PRE | INTERP), ("shadow-utils", PRE)]
        ),
        "openssl-libs": pkg("openssl-libs", provides=["libssl.so.3"]),
        "bash": pkg("bash", [("libtinfo.so.6", 0)], provides=["/bin/sh"]),
        "ncurses-libs": pkg("ncurses-libs", provides=["libtinfo.so.6"]),
        "shadow-utils": pkg("shadow-utils", [("setup", POST)]),
        "setup": pkg("setup"),
        "tool": pkg("tool", [("/bin/sh", 0)]),
    }
    assert minimize.install_time_only(packages, ["nginx"], weak=False) == [
        "bash",
        "ncurses-libs",
        "shadow-utils",
        "tool",
    ]
    # a runtime requirement of something kept keeps it
    assert minimize.install_time_only(packages, ["nginx", "tool"], weak=False) == ["shadow-utils"]


def test_weak_dependencies_are_kept_when_the_recipe_wants_them() -> None:
    packages = {"a": pkg("a", weak=["b"]), "b": pkg("b")}
    assert minimize.install_time_only(packages, ["a"], weak=False) == ["b"]
    assert minimize.install_time_only(packages, ["a"], weak=True) == []


def test_why_names_the_chain_back_to_a_requested_package() -> None:
    packages = {
        "nginx": pkg("nginx", [("libssl.so.3", 0)]),
        "openssl-libs": pkg("openssl-libs", [("libz.so.1", 0)], provides=["libssl.so.3"]),
        "zlib": pkg("zlib", provides=["libz.so.1"]),
    }
    reached = minimize.runtime_closure(packages, ["nginx"], weak=False)
    assert minimize.why(reached, "zlib") == (
        "zlib (libz.so.1) <- openssl-libs (libssl.so.3) <- nginx (requested)"
    )


def test_roots_are_the_installed_packages_rpm_said_satisfy_the_specs() -> None:
    packages = {"bash": pkg("bash", provides=["/bin/sh"]), "nginx": pkg("nginx")}
    satisfied = {"/bin/sh": ["bash"], "ngin*": ["nginx"], "gone-1.0": ["gone"], "x": []}
    assert minimize.resolve_roots(packages, satisfied) == ["bash", "nginx"]


def test_a_root_is_the_package_of_that_name_not_every_provider_of_the_name() -> None:
    packages = {
        "coreutils-single": pkg("coreutils-single", provides=["coreutils"]),
        "coreutils": pkg("coreutils"),
    }
    assert minimize.install_time_only(packages, ["coreutils"], weak=False) == ["coreutils-single"]


def test_a_large_package_named_with_a_version_is_still_named() -> None:
    for spec in (
        "coreutils-9.1",
        "coreutils-9.1-1.fc40.x86_64",
        "coreutils >= 9",
        "coreutils.x86_64",
    ):
        assert "coreutils" not in minimize.excludes(TABLE, [spec], []), spec
    assert "coreutils" in minimize.excludes(TABLE, ["coreutils-single-9.1"], [])


@pytest.mark.parametrize(("flag", "scriptlet"), [(1 << 20, "preuntrans"), (1 << 21, "postuntrans")])
def test_rpm_420_untrans_requirements_are_scriptlet_only(flag: int, scriptlet: str) -> None:
    packages = {
        "app": pkg("app", [("/bin/sh", flag | INTERP), ("libc.so.6", 0)]),
        "bash": pkg("bash", provides=["/bin/sh"]),
        "glibc": pkg("glibc", provides=["libc.so.6"]),
    }
    assert packages["app"].runtime_requires == ["libc.so.6"], scriptlet
    assert minimize.install_time_only(packages, ["app"], weak=False) == ["bash"]


def test_rpm_query_output_parses_and_counts_skipped_docs_and_languages() -> None:
    sep = "\x1f"
    text = (
        sep.join(
            [
                "@@bash",
                "bash-5.2-1.fc40.x86_64",
                "1000",
                *["1", "5.2", "1.fc40", "x86_64", "GPL-3.0-or-later", "Fedora Project"],
                *["(none)", "bash-5.2-1.fc40.src.rpm", "ab" * 32, "cd" * 16, "1712000000"],
                "Rlibc.so.6\t0",
                "Wbash-completion",
                "P/bin/sh",
                "F/usr/bin/bash\t900\t0\tnormal\t\t1700000000\t33261",
                "F/usr/share/doc/bash/README\t40\t2\tnot installed\t\t1700000000\t33188",
                "F/usr/share/locale/de/bash.mo\t60\t0\tnot installed\tde\t1700000000\t33188",
                "",
            ]
        )
        + "\n"
    )
    packages = parse_query(text)
    bash = packages["bash"]
    assert bash.runtime_requires == ["libc.so.6"] and bash.weak == ("bash-completion",)
    assert doc_or_lang_bytes(packages.values()) == (40, 60)
    header = bash.header
    assert (header.epoch, header.version, header.release, header.arch) == (
        1,
        "5.2",
        "1.fc40",
        "x86_64",
    )
    assert (header.license, header.vendor, header.packager) == (
        "GPL-3.0-or-later",
        "Fedora Project",
        "",
    )
    assert (header.sourcerpm, header.sha256header, header.sigmd5) == (
        "bash-5.2-1.fc40.src.rpm",
        "ab" * 32,
        "cd" * 16,
    )
    assert header.buildtime == 1712000000


@pytest.mark.parametrize(
    "kw", [{"langs": []}, {"langs": ["de;rm"]}, {"prefer": ["x"]}, {"prefer": {"a": [3]}}]
)
def test_bad_minimisation_options_are_recipe_errors(kw: dict) -> None:
    with pytest.raises(RecipeError):
        recipe("localhost/x", **kw)
