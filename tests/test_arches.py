"""Multi-arch builds as data: architecture names, the binfmt_misc preflight, dnf's and buildah's
command lines for another architecture, and what a per-arch image's inputs are."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from plans import DEBIAN, FIXTURE_REPO, planned, sample_plan

from buildahpy.api.config import ImageConfig
from buildahpy.api.recipe import Recipe, recipe
from buildahpy.errors import PreflightError, RecipeError, UsageError
from buildahpy.fleet import inputs
from buildahpy.host import binfmt, buildah, dnf, manifest
from buildahpy.plan import arches
from buildahpy.plan.plan import Options, make_plan
from buildahpy.plan.publish import holds_lists

ENABLED = (
    "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: {flags}\noffset 0\n"
    "magic 7f454c460201010000000000000000000200b700\n"
)


def test_names_in_rpm_and_oci_spelling_are_one_architecture() -> None:
    assert arches.parse("x86_64, arm64,aarch64") == ("x86_64", "aarch64")
    assert arches.parse(["amd64"]) == ("x86_64",)
    assert arches.oci_platform("aarch64") == ("arm64", "v8")
    assert arches.oci_platform("x86_64") == ("amd64", "")
    with pytest.raises(UsageError, match="unknown architecture 'armhf'"):
        arches.parse("x86_64,armhf")
    with pytest.raises(UsageError, match="no architecture"):
        arches.parse(" , ")


def test_the_host_arch_alone_is_an_ordinary_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arches, "host_arch", lambda: "x86_64")
    assert arches.build_arches((), ()) == ()
    assert arches.build_arches(("x86_64",), ()) == ()
    assert arches.build_arches((), ("aarch64",)) == ("aarch64",)
    both = ("x86_64", "aarch64")
    assert arches.build_arches((), both) == both
    assert arches.build_arches(("aarch64",), both) == ("aarch64",)  # the command line wins
    assert arches.foreign(both) == ["aarch64"]
    assert arches.arch_tag("localhost/app:latest", "aarch64") == "localhost/app:latest-aarch64"


def test_recipe_takes_arches_and_refuses_unknown_ones() -> None:
    def app(image: object) -> None:
        pass

    recipe("localhost/app", arches="x86_64,arm64")(app)
    entry: Recipe = app.__buildahpy_recipe__  # type: ignore[attr-defined]
    assert entry.arches == ("x86_64", "aarch64")
    with pytest.raises(RecipeError, match="unknown architecture 'sparc'"):
        recipe("localhost/app", arches=["sparc"])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (None, "no binfmt_misc handler qemu-aarch64 is registered"),
        (ENABLED.format(flags="PF").replace("enabled", "disabled"), "is disabled"),
        (ENABLED.format(flags="P"), "lacks the F (fix-binary) flag"),
        (ENABLED.format(flags="PF"), ""),
        (ENABLED.format(flags="POCF"), ""),
    ],
)
def test_binfmt_handler_must_be_enabled_with_fix_binary(text: str | None, problem: str) -> None:
    found = binfmt.handler_problem("aarch64", text)
    assert (problem in found) if problem else found == ""


def test_preflight_names_the_packages_and_the_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arches, "host_arch", lambda: "x86_64")
    binfmt.check_foreign(["x86_64"], tmp_path)  # the host's own needs nothing
    with pytest.raises(PreflightError) as caught:
        binfmt.check_foreign(["x86_64", "aarch64"], tmp_path)
    message = str(caught.value)
    assert "cannot build for aarch64: no binfmt_misc handler qemu-aarch64" in message
    assert (
        "qemu-user-static binfmt-support" in message and "dnf install qemu-user-static" in message
    )
    assert f"mount -t binfmt_misc binfmt_misc {tmp_path}" in message
    assert "\n" not in message and caught.value.exit_code == 2
    (tmp_path / "status").write_text("enabled\n")
    (tmp_path / "qemu-aarch64").write_text(ENABLED.format(flags="PF"))
    binfmt.check_foreign(["x86_64", "aarch64"], tmp_path)
    (tmp_path / "qemu-aarch64").write_text(ENABLED.format(flags="P"))
    with pytest.raises(PreflightError, match="fix-binary") as again:
        binfmt.check_foreign(["aarch64"], tmp_path)
    assert "mount -t" not in str(again.value)


@pytest.mark.parametrize("flavour", [dnf.DNF4, dnf.DNF5])
def test_dnf_solves_for_the_target_arch(tmp_path: Path, flavour: str) -> None:
    plain = sample_plan(flavour)
    foreign = sample_plan(flavour, arch="aarch64")
    assert not any(a.startswith("--forcearch") for a in dnf.install_argv(plain, "/r", ["busybox"]))
    argv = dnf.install_argv(foreign, "/r", ["busybox"])
    assert "--forcearch=aarch64" in argv
    assert argv.index("--forcearch=aarch64") < argv.index("install")
    assert "--forcearch=aarch64" in dnf.makecache_argv(foreign, "/r")
    assert "--forcearch=aarch64" in dnf.remove_argv(foreign, "/r", ["busybox"])


def test_buildah_from_and_config_carry_the_oci_platform() -> None:
    arm = arches.oci_platform("aarch64")
    assert buildah.from_argv("c", "scratch", (), arm) == [
        "buildah",
        "from",
        "--name",
        "c",
        "--pull=never",
        "--arch=arm64",
        "--variant=v8",
        "scratch",
    ]
    assert buildah.from_argv("c", "scratch") == [
        "buildah",
        "from",
        "--name",
        "c",
        "--pull=never",
        "scratch",
    ]
    config = ImageConfig(entrypoint=("/bin/sh",))
    argv = buildah.config_argv("c", config, "", arches.oci_platform("x86_64"))
    assert argv[:3] == ["buildah", "config", "--arch=amd64"] and "--variant=" not in " ".join(argv)
    assert not any(a.startswith("--arch") for a in buildah.config_argv("c", config))


def test_a_list_is_pushed_with_all_its_images() -> None:
    assert manifest.push_all_argv(
        "localhost/app:latest", "docker://127.0.0.1:5000/app", "/d", tls_verify=False
    ) == [
        "buildah",
        "manifest",
        "push",
        "--all",
        "--quiet",
        "--digestfile=/d",
        "--tls-verify=false",
        "localhost/app:latest",
        "docker://127.0.0.1:5000/app",
    ]
    assert holds_lists("oci:/out/app") and holds_lists("oci-archive:/out/app.tar")
    assert holds_lists("docker://127.0.0.1:5000/app") and not holds_lists("docker-archive:/a.tar")


def test_manifest_platforms_read_from_inspect() -> None:
    listed = {
        "manifests": [
            {"platform": {"architecture": "amd64", "os": "linux"}},
            {"platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        ]
    }
    assert manifest.platforms(listed) == [("amd64", ""), ("arm64", "v8")]
    listed["manifests"][0]["digest"], listed["manifests"][1]["digest"] = "sha256:b", "sha256:a"
    assert manifest.digests(listed) == ["sha256:a", "sha256:b"]
    assert manifest.digests(None) == []


def test_each_arch_is_an_image_of_its_own_and_the_host_build_keeps_its_name(
    tmp_path: Path,
) -> None:
    host_plan = planned(tmp_path, dnf.DNF4)
    repo = tmp_path / "f.repo"
    rec = Recipe(
        name="app",
        tag="localhost/app:latest",
        func=lambda image: None,
        file=tmp_path / "r.py",
        line=1,
        releasever="42",
    )
    options = Options(repo_files=(repo,))
    same = make_plan(rec, options, host=DEBIAN, dnf_flavour=dnf.DNF4, workdir="/w")
    listed = make_plan(
        attrs.evolve(rec, arches=("x86_64", "aarch64")),
        attrs.evolve(options, arches=("x86_64", "aarch64")),
        host=DEBIAN,
        dnf_flavour=dnf.DNF4,
        workdir="/w",
    )
    arm = make_plan(
        rec, attrs.evolve(options, arch="aarch64"), host=DEBIAN, dnf_flavour=dnf.DNF4, workdir="/w"
    )
    # asking for arches changes nothing of one image; its architecture does
    assert host_plan.digest == same.digest == listed.digest != arm.digest
    assert arm.arch == "aarch64" and same.arch == ""


def test_inputs_digest_is_per_arch(tmp_path: Path) -> None:
    (tmp_path / "f.repo").write_text(FIXTURE_REPO)
    (tmp_path / "r.py").write_text("# recipe\n")
    rec = Recipe(
        name="app",
        tag="localhost/app:latest",
        func=lambda image: image.install("busybox"),
        file=tmp_path / "r.py",
        line=1,
        releasever="42",
    )
    options = Options(repo_files=(tmp_path / "f.repo",))

    def digest(recipe_: Recipe, opts: Options) -> str | None:
        return inputs.recipe_inputs(recipe_, opts, DEBIAN, dnf.DNF4)

    plain = digest(rec, options)
    assert plain is not None
    assert digest(attrs.evolve(rec, arches=("x86_64", "aarch64")), options) == plain
    assert digest(rec, attrs.evolve(options, arches=("aarch64",))) == plain
    arm, amd = (digest(rec, attrs.evolve(options, arch=a)) for a in ("aarch64", "x86_64"))
    assert len({plain, arm, amd}) == 3


def test_what_multi_arch_builds_do_not_do_is_refused_up_front() -> None:
    both = ("x86_64", "aarch64")
    arches.check_supported([(), ("aarch64",)], reproduce=True)
    arches.check_supported([both], reproduce=False)
    with pytest.raises(UsageError, match="--check-reproducible"):
        arches.check_supported([both], reproduce=True)
