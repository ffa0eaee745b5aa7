"""Recipe loading, tags, image config and the recipe API's argument checks."""

import io
import textwrap
from pathlib import Path

import attrs
import pytest
from plans import DEBIAN, planned, sample_plan

from buildahpy.api.config import ImageConfig
from buildahpy.api.image import DryEngine, Image
from buildahpy.api.recipe import load_file, load_files, normalise_tag
from buildahpy.build import accounts
from buildahpy.build.dryrun import PlanEngine, print_plan
from buildahpy.errors import BuildError, RecipeError
from buildahpy.fleet import inputs
from buildahpy.plan.plan import Options
from buildahpy.privilege import gc


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_one_file_many_recipes_in_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.py",
        """
        from buildahpy import recipe

        @recipe("localhost/a", releasever=41)
        def first(image):
            image.install("bash")

        @recipe("quay.io:443/team/b:v1", distro="centos-stream", weak_deps=True)
        def second(image):
            pass
    """,
    )
    first, second = load_file(path)
    assert (first.name, first.tag, first.releasever, first.line) == (
        "first",
        "localhost/a:latest",
        "41",
        4,
    )
    assert (second.tag, second.distro, second.weak_deps) == (
        "quay.io:443/team/b:v1",
        "centos-stream",
        True,
    )


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.py", "from buildahpy import recipe\n\nx = (\n")
    with pytest.raises(RecipeError, match=r"bad.py:3: SyntaxError"):
        load_file(path)


def test_exception_at_import_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "boom.py", "import os\n\nraise ValueError('nope')\n")
    with pytest.raises(RecipeError, match=r"boom.py:3: ValueError: nope"):
        load_file(path)


def test_bad_tag_in_decorator_names_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "tag.py",
        """
        from buildahpy import recipe

        @recipe("Not A Tag!")
        def x(image):
            pass
    """,
    )
    with pytest.raises(RecipeError, match=r"tag.py:4: invalid image tag 'Not A Tag!'"):
        load_file(path)


def test_missing_empty_and_duplicate(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="does not exist"):
        load_file(tmp_path / "nope.py")
    with pytest.raises(RecipeError, match="defines no recipes"):
        load_file(write(tmp_path, "empty.py", "X = 1\n"))
    body = "from buildahpy import recipe\n@recipe('localhost/a')\ndef same(image):\n    pass\n"
    a, b = write(tmp_path, "a.py", body), write(tmp_path, "b.py", body)
    with pytest.raises(RecipeError, match="recipe 'same' is already defined at"):
        load_files([a, b])


@pytest.mark.parametrize("name", ["_base", "café", "a" * 201])
def test_a_name_that_cannot_name_a_container_is_refused_at_its_line(
    tmp_path: Path, name: str
) -> None:
    body = f"from buildahpy import recipe\n\n@recipe('localhost/a')\ndef {name}(image):\n    pass\n"
    path = write(tmp_path, "names.py", body)
    with pytest.raises(RecipeError, match=rf"names.py:[34]: recipe name '{name}' cannot name"):
        load_file(path)


@pytest.mark.parametrize("name", ["web", "Web_2", "x_", "a__b", "a" * 200])
def test_every_accepted_name_gives_a_working_container_name_gc_knows(
    tmp_path: Path, name: str
) -> None:
    body = f"from buildahpy import recipe\n\n@recipe('localhost/a')\ndef {name}(image):\n    pass\n"
    (entry,) = load_file(write(tmp_path, "names.py", body))
    container = f"{attrs.evolve(sample_plan(), recipe_name=entry.name).container_prefix}-abcdef"
    assert gc.NAME_RE.match(container)
    assert gc.PENDING_RE.match(gc.pending_name(container))


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("localhost/nginx", "localhost/nginx:latest"),
        ("nginx:1.2", "nginx:1.2"),
        ("registry.example.com:5000/a/b:c", "registry.example.com:5000/a/b:c"),
    ],
)
def test_tags_are_normalised(tag: str, expected: str) -> None:
    assert normalise_tag(tag) == expected


@pytest.mark.parametrize("tag", ["", "x/UPPER", "a b", "x:", "-x", "x:tag:tag", None])
def test_bad_tags(tag: object) -> None:
    with pytest.raises(RecipeError):
        normalise_tag(tag)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"entrypoint": "/bin/sh -c x"}, "list of strings"),
        ({"cmd": ["ok", 3]}, "only strings"),
        ({"env": {"1BAD": "x"}}, "invalid name '1BAD'"),
        ({"env": {"A": "two\nlines"}}, "one-line string"),
        ({"workdir": "relative"}, "absolute path"),
        ({"user": "root; rm"}, "invalid user"),
        ({"ports": ["70000"]}, "invalid port"),
        ({"ports": ["80/icmp"]}, "invalid port"),
        ({"volumes": ["data"]}, "absolute path"),
    ],
)
def test_bad_config_values(fields: dict, message: str) -> None:
    with pytest.raises(BuildError, match=message):
        ImageConfig().merge(**fields)


def test_config_merges_and_defaults_ports_to_tcp() -> None:
    config = ImageConfig().merge(env={"A": "1"}, ports=[80]).merge(env={"B": "2"}, ports="53/udp")
    assert config.env == (("A", "1"), ("B", "2"))
    assert config.ports == ("53/udp", "80/tcp")


def test_image_api_records_steps_and_rejects_bad_arguments() -> None:
    image = Image(DryEngine())
    image.install("bash")
    image.write_file("/etc/motd", "hi\n")
    image.add_group("app", 1000)
    image.add_user("app", 1000, 1000, home="/srv")
    assert image.steps == [
        "install bash",
        "write /etc/motd (3 bytes, mode 644)",
        "group app (1000)",
        "user app (1000:1000, /srv, /sbin/nologin)",
    ]
    for call in (
        lambda: image.write_file("etc/x", "y"),
        lambda: image.mkdir(""),
        lambda: image.install("-y"),
        lambda: image.add_user("Bad Name", 1, 1),
        lambda: image.config(nope=1),
        lambda: image.run("ls -l"),
        lambda: image.write_file("/x", "y", mode=0o17777),
    ):
        with pytest.raises(BuildError):
            call()


def test_passwd_and_group_edits_are_idempotent_and_detect_clashes() -> None:
    text = "root:x:0:\n"
    added = accounts.add_entry(text, "nginx", 990, "nginx:x:990:", "group")
    assert added == "root:x:0:\nnginx:x:990:\n"
    assert accounts.add_entry(added, "nginx", 990, "nginx:x:990:", "group") is None
    with pytest.raises(BuildError, match="already exists in the image with id 990"):
        accounts.add_entry(added, "nginx", 991, "nginx:x:991:", "group")
    with pytest.raises(BuildError, match="id 0 is already taken by 'root'"):
        accounts.add_entry(added, "other", 0, "other:x:0:", "group")


def test_a_recipe_opts_out_of_a_check_with_a_reason(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "opt.py",
        """
        from buildahpy import recipe

        @recipe("localhost/a", checks={"libraries": " static binaries only "})
        def a(image):
            pass
    """,
    )
    (entry,) = load_file(path)
    assert entry.skip_checks == (("libraries", "static binaries only"),)


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        ("{'libs': 'typo'}", r"unknown check 'libs' in checks=; the checks are user, workdir, "),
        ("{'user': ''}", r"checks=\{'user': \.\.\.\} needs the reason to skip it, on one line"),
        ("{'user': '  '}", r"checks=\{'user': \.\.\.\} needs the reason"),
        ("{'user': 'a\\nb'}", r"checks=\{'user': \.\.\.\} needs the reason to skip it, on one"),
        ("{'user': None}", r"checks=\{'user': \.\.\.\} needs the reason to skip it"),
        ("['user']", r"checks= must map a check's name to the reason to skip it"),
    ],
)
def test_bad_opt_outs_are_recipe_errors_with_file_and_line(
    tmp_path: Path, checks: str, message: str
) -> None:
    head = f"from buildahpy import recipe\n\n@recipe('localhost/a', checks={checks})\n"
    path = write(tmp_path, "bad.py", head + "def a(i):\n    pass\n")
    with pytest.raises(RecipeError, match=rf"bad\.py:3: {message}"):
        load_file(path)


def test_opting_out_changes_the_plan_and_the_inputs(tmp_path: Path) -> None:
    plain = planned(tmp_path, "dnf4")
    skipping = planned(tmp_path, "dnf4", skip_checks=(("user", "made at run time"),))
    assert skipping.skip_checks == (("user", "made at run time"),) and plain.skip_checks == ()
    assert plain.digest != skipping.digest
    (entry,) = load_file(
        write(
            tmp_path,
            "r.py",
            "from buildahpy import recipe\n\n@recipe('localhost/a')\ndef a(i):\n    pass\n",
        )
    )
    opted = attrs.evolve(entry, skip_checks=(("user", "made at run time"),))
    options = Options(repo_files=(tmp_path / "f.repo",))
    assert inputs.recipe_inputs(entry, options, DEBIAN, "dnf4") != inputs.recipe_inputs(
        opted, options, DEBIAN, "dnf4"
    )


def test_the_dry_run_plan_lists_the_checks(tmp_path: Path) -> None:
    out = io.StringIO()
    plan = planned(tmp_path, "dnf4", skip_checks=(("libraries", "static binaries only"),))
    print_plan(plan, Image(DryEngine()), PlanEngine(plan), out)
    assert (
        "  checks before commit: user, workdir, entrypoint, libraries (skipped: static binaries "
        "only), os-release\n" in out.getvalue()
    )
