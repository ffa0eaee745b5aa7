"""A build that says `built` has what the recipe asked for: real builds against the fixture repo.

The base's packages survive a recipe that installs nothing; every spec form dnf accepts is kept
(and checked against the final rpmdb); pruning never undoes a recipe's own edits. Versions are
read from the fixture repository (they come from the host's Debian packages), never written here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Builder
from rpmkit import build_rpm, make_repo

pytestmark = pytest.mark.integration

HEAD = "from buildahpy import recipe\n\n"


def repo_packages(builder: Builder) -> dict[str, tuple[str, str, str]]:
    """name -> (version, release, arch) of every package in the fixture repository."""
    rpms = sorted(str(p) for p in (builder.repo_file.parent / "Packages").glob("*.rpm"))
    out = builder.tool("rpm", "-qp", "--qf", "%{NAME}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n", *rpms)
    return {name: (v, r, a) for name, v, r, a in (line.split("\t") for line in out.splitlines())}


def repo_files(builder: Builder, name: str) -> list[str]:
    (rpm,) = (builder.repo_file.parent / "Packages").glob(f"{name}-[0-9]*.rpm")
    return builder.tool("rpm", "-qpl", str(rpm)).split()


def packaged_size(builder: Builder, name: str, path: str) -> int:
    (rpm,) = (builder.repo_file.parent / "Packages").glob(f"{name}-[0-9]*.rpm")
    out = builder.tool("rpm", "-qp", "--qf", "[%{FILENAMES}\t%{LONGFILESIZES}\n]", str(rpm))
    sizes = dict(line.split("\t") for line in out.splitlines())
    return int(sizes[path])


BASE = """
@recipe("localhost/trust-base")
def trust_base(image):
    image.install("glibc-minimal-langpack", "coreutils-single", "bash", "busybox")

@recipe("localhost/trust-config-only", base=trust_base)
def config_only(image):
    image.write_file("/etc/motd", "hello\\n")
    image.config(entrypoint=["/bin/bash"], env={"A": "1"})

@recipe("localhost/trust-remove-first", base=trust_base)
def remove_first(image):
    image.remove("busybox")
"""


def test_a_recipe_on_a_base_that_installs_nothing_keeps_the_bases_packages(
    builder: Builder,
) -> None:
    result = builder.cli(builder.recipe("base.py", HEAD + BASE))
    assert result.returncode == 0, result.stderr
    assert "pruned 0 B" in result.stderr and "pruned 0 B (" not in result.stderr
    with builder.mounted("localhost/trust-base") as root:
        base = builder.packages(root)
    assert {"bash", "busybox", "glibc"} <= set(base)
    with builder.mounted("localhost/trust-config-only") as root:
        assert builder.packages(root) == base
        assert (root / "etc/motd").read_text() == "hello\n"
    with builder.mounted("localhost/trust-remove-first") as root:
        assert builder.packages(root) == [name for name in base if name != "busybox"]
    for tag in ("localhost/trust-config-only", "localhost/trust-remove-first"):
        run = builder.run_in(tag, "/bin/bash", "-c", "echo $((6*7))")
        assert run.returncode == 0 and run.stdout == "42\n", (tag, run.stderr)


def spec_forms(builder: Builder) -> dict[str, str]:
    """Each spec form dnf accepts -> the package that satisfies it. Every package here is a
    leaf that no other package of the recipe needs at runtime: only the spec keeps it."""
    repo = repo_packages(builder)
    bv, br, _ = repo["busybox"]
    gv, gr, ga = repo["gmp"]
    _, _, pa = repo["pcre2"]
    lv, _, _ = repo["logrotate"]
    zv, _, _ = repo["zlib"]
    av, _, _ = repo["libacl"]
    libcrypt = next(p for p in repo_files(builder, "libxcrypt") if p.endswith("/libcrypt.so.1"))
    return {
        f"busybox-{bv}-{br}": "busybox",  # name-version-release
        f"logrotate-{lv}": "logrotate",  # name-version
        f"gmp-{gv}-{gr}.{ga}": "gmp",  # name-version-release.arch ('+' in the version)
        f"pcre2.{pa}": "pcre2",  # name.arch
        f"zlib-{zv.split('.')[0]}.*": "zlib",  # a glob over name-version
        "libattr.so.1*": "libattr",  # a glob over provides
        libcrypt: "libxcrypt",  # a file
        f"libacl >= {av}": "libacl",  # a provide with a version comparison
        "pkgconfig(zlib-fixture)": "zlib-fixture-devel",  # a pkgconfig() provide
        "glibc-minimal-lang*": "glibc-minimal-langpack",  # a glob over names
    }


def pkgconfig_repo(builder: Builder) -> Path:
    rpm = build_rpm(
        builder.tmp_path,
        "zlib-fixture-devel",
        "Provides: pkgconfig(zlib-fixture) = 1.0\n",
        files={"/usr/share/pkgconfig/zlib-fixture.pc": "Name: zlib-fixture\n"},
    )
    return make_repo(builder.tmp_path / "pc", [rpm], repo_id="pc")


def test_every_spec_form_dnf_accepts_is_installed_kept_and_explained(builder: Builder) -> None:
    forms = spec_forms(builder)
    body = HEAD + (
        "@recipe('localhost/trust-forms')\ndef trust_forms(image):\n"
        f"    image.install(*{sorted(forms)!r})\n"
    )
    result = builder.cli(
        builder.recipe("forms.py", body), "--repo-file", pkgconfig_repo(builder), "--explain"
    )
    assert result.returncode == 0, result.stderr
    with builder.mounted("localhost/trust-forms") as root:
        names = set(builder.packages(root))
    missing = {spec: name for spec, name in forms.items() if name not in names}
    assert not missing, result.stderr
    for name in forms.values():
        assert f"why {name}: {name} (requested)" in result.stderr, name


def test_a_package_a_later_remove_took_fails_the_build_naming_the_spec(
    builder: Builder,
) -> None:
    bv = repo_packages(builder)["busybox"][0]
    body = HEAD + (
        "@recipe('localhost/trust-took')\ndef trust_took(image):\n"
        "    image.install('glibc-minimal-langpack', 'coreutils-single', 'nginx',\n"
        f"                  'busybox-{bv}')\n"
        "    image.remove('pcre2')\n"
    )
    before = builder.image_id("localhost/trust-took")
    result = builder.cli(builder.recipe("took.py", body))
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy:")]
    assert len(errors) == 1, result.stderr
    assert "install('nginx'): no package in the finished image satisfies it" in errors[0]
    assert builder.image_id("localhost/trust-took") == before


def test_a_spec_the_recipe_removes_again_is_not_required(builder: Builder) -> None:
    body = HEAD + (
        "@recipe('localhost/trust-undo')\ndef trust_undo(image):\n"
        "    image.install('glibc-minimal-langpack', '/bin/sh', 'busybox')\n"
        "    image.remove('bash')\n"
    )
    result = builder.cli(builder.recipe("undo.py", body))
    assert result.returncode == 0, result.stderr
    with builder.mounted("localhost/trust-undo") as root:
        names = set(builder.packages(root))
    assert "busybox" in names and "bash" not in names


def test_pruning_keeps_what_the_recipe_linked_and_writes_replace_links(
    builder: Builder, tmp_path: Path
) -> None:
    script = tmp_path / "ls"
    script.write_text("#!/usr/sbin/busybox sh\necho replaced\n")
    body = HEAD + (
        "@recipe('localhost/trust-link')\ndef trust_link(image):\n"
        "    image.install('glibc-minimal-langpack', 'coreutils-single', 'nginx', 'busybox')\n"
        "    image.symlink('/usr/sbin/busybox', '/bin/sh')\n"
        "\n@recipe('localhost/trust-write')\ndef trust_write(image):\n"
        "    image.install('glibc-minimal-langpack', 'coreutils-single', 'bash', 'busybox')\n"
        "    image.write_file('/usr/bin/sh', '#!/usr/sbin/busybox sh\\n', mode=0o755)\n"
        f"    image.copy({str(script)!r}, '/usr/bin/ls', mode=0o755)\n"
    )
    result = builder.cli(builder.recipe("edits.py", body))
    assert result.returncode == 0, result.stderr
    with builder.mounted("localhost/trust-link") as root:
        # bash came only for nginx-filesystem's %pre; it owns /usr/bin/sh, which the recipe set
        assert os.readlink(root / "usr/bin/sh") == "/usr/sbin/busybox"
        assert "bash" in builder.packages(root)
    run = builder.run_in("localhost/trust-link", "/bin/sh", "-c", "echo $((6*7))")
    assert run.returncode == 0 and run.stdout == "42\n", run.stderr
    with builder.mounted("localhost/trust-write") as root:
        assert (root / "usr/bin/sh").read_text() == "#!/usr/sbin/busybox sh\n"
        assert not (root / "usr/bin/sh").is_symlink()
        bash = root / "usr/bin/bash"
        assert bash.read_bytes()[:4] == b"\x7fELF"
        assert bash.stat().st_size == packaged_size(builder, "bash", "/usr/bin/bash")
        assert (root / "usr/bin/ls").read_text() == script.read_text()
        assert (root / "usr/bin/coreutils").read_bytes()[:4] == b"\x7fELF"
    run = builder.run_in("localhost/trust-write", "/usr/bin/bash", "-c", "echo $((6*7))")
    assert run.returncode == 0 and run.stdout == "42\n", run.stderr
