"""--output and --push as data: destinations checked and expanded, buildah push's argv."""

from __future__ import annotations

import pytest

from buildahpy.errors import UsageError
from buildahpy.host import buildah
from buildahpy.plan.publish import Publish, check_output, check_push, check_templates, destinations


@pytest.mark.parametrize(
    "dest", ["oci:out/{recipe}", "oci:out/x:v1", "oci-archive:a.tar", "docker-archive:/t/d.tar"]
)
def test_known_output_transports_are_accepted(dest: str) -> None:
    assert check_output(dest) == dest


@pytest.mark.parametrize("dest", ["out.tar", "dir:/x", "oci:", "docker://r/x"])
def test_other_outputs_are_usage_errors(dest: str) -> None:
    with pytest.raises(UsageError, match="expected oci:PATH, oci-archive:PATH, docker-archive"):
        check_output(dest)


def test_push_references_go_to_a_registry() -> None:
    assert check_push("127.0.0.1:5000/{recipe}:1") == "docker://127.0.0.1:5000/{recipe}:1"
    assert check_push("docker://r.test/x") == "docker://r.test/x"
    with pytest.raises(UsageError, match="expected a registry reference"):
        check_push("oci:/x")


def test_up_to_date_images_are_pushed_only_with_push_all() -> None:
    send = Publish(outputs=("oci-archive:o/{recipe}.tar",), push=("docker://r/{recipe}",))
    assert destinations(send, "app", up_to_date=False) == [
        "oci-archive:o/app.tar",
        "docker://r/app",
    ]
    assert destinations(send, "app", up_to_date=True) == ["oci-archive:o/app.tar"]
    every = Publish(push=("docker://r/{recipe}",), push_all=True)
    assert destinations(every, "app", up_to_date=True) == ["docker://r/app"]


def test_several_images_need_the_recipe_in_the_destination() -> None:
    check_templates(Publish(push=("docker://r/x",)), ["one"])
    check_templates(Publish(push=("docker://r/{recipe}",)), ["one", "two"])
    with pytest.raises(UsageError, match=r"docker://r/x: 2 images would go there; put \{recipe\}"):
        check_templates(Publish(push=("docker://r/x",)), ["one", "two"])


def test_push_argv_passes_the_registry_options_through() -> None:
    assert buildah.push_argv("localhost/a", "docker://r/a", "/d") == [
        "buildah", "push", "--quiet", "--digestfile=/d", "localhost/a", "docker://r/a",
    ]  # fmt: skip
    argv = buildah.push_argv(
        "localhost/a", "docker://r/a", "/d", authfile="/auth.json", tls_verify=False, creds="u:p"
    )
    assert argv[4:7] == ["--authfile=/auth.json", "--tls-verify=false", "--creds=u:p"]
