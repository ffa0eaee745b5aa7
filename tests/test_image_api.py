"""The recipe API's additions as data: variants (name=), tag messages, owner=, COPY-like copies,
relative host paths, the config a base set cleared, stop signal, annotations, healthcheck and
'did you mean' for a missing package."""

from __future__ import annotations

import gzip
import io
import os
import stat
import textwrap
from pathlib import Path

import pytest
from plans import DEBIAN, sample_plan

from buildahpy.api.config import Healthcheck, ImageConfig
from buildahpy.api.image import DryEngine, Image
from buildahpy.api.recipe import load_file, load_files, normalise_tag
from buildahpy.api.validate import check_owner
from buildahpy.build import accounts, suggest
from buildahpy.build.checks import runtime
from buildahpy.build.dryrun import PlanEngine, print_plan
from buildahpy.errors import BuildError, RecipeError
from buildahpy.fleet import inputs
from buildahpy.host import buildah, repodata
from buildahpy.host.rootfs import RootFS
from buildahpy.plan.plan import Options


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


# -- variants ----------------------------------------------------------------------------------
VARIANTS = """\
from functools import partial
from buildahpy import recipe

def body(image, debug=False):
    image.install("busybox" if debug else "glibc")

for variant in ("latest", "debug"):
    recipe(f"localhost/app:{variant}", name=f"app_{variant}")(
        partial(body, debug=variant == "debug")
    )

@recipe("localhost/plain")
def plain(image):
    pass
"""


def test_one_function_makes_variants_named_explicitly_at_the_call_line(tmp_path: Path) -> None:
    latest, debug, plain = load_file(write(tmp_path, "v.py", VARIANTS))
    assert [(r.name, r.tag, r.line) for r in (latest, debug, plain)] == [
        ("app_latest", "localhost/app:latest", 8),
        ("app_debug", "localhost/app:debug", 8),
        ("plain", "localhost/plain:latest", 12),
    ]
    image = Image(DryEngine())
    debug.func(image)
    assert image.specs == ["busybox"]


def test_a_loop_without_names_still_says_which_recipe_is_defined_twice(tmp_path: Path) -> None:
    body = (
        "from buildahpy import recipe\n\n"
        "for v in ('a', 'b'):\n"
        "    def app(image):\n        pass\n"
        "    recipe(f'localhost/app:{v}')(app)\n"
    )
    path = write(tmp_path, "dup.py", body)
    with pytest.raises(RecipeError, match=r"dup.py:6: recipe 'app' is already defined at .*:6"):
        load_files([path])


def test_a_recipe_defined_in_a_helper_is_placed_at_the_recipe_files_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path,
        "variants_helper.py",
        """
        from buildahpy import recipe

        def variants(tag, func):
            for name in ("a", "b"):
                recipe(f"{tag}:{name}", name=f"{func.__name__}_{name}")(func)
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write(
        tmp_path,
        "uses.py",
        "from variants_helper import variants\n\ndef app(image):\n"
        "    pass\n\nvariants('localhost/app', app)\n",
    )
    first, second = load_file(path)
    assert (first.name, first.file, first.line) == ("app_a", path.resolve(), 6)
    assert second.name == "app_b"


def test_a_callable_without_a_usable_name_asks_for_name() -> None:
    from buildahpy.api.recipe import recipe

    with pytest.raises(
        RecipeError, match=r"'<lambda>' cannot name .* recipe\(\.\.\., name=\.\.\.\)"
    ):
        recipe("localhost/x")(lambda image: None)
    with pytest.raises(RecipeError, match="'bad-name' cannot name"):
        recipe("localhost/x", name="bad-name")(lambda image: None)


# -- tags ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("localhost/app:Latest", "localhost/app:Latest"),
        ("Registry.Example.com:5000/team/app", "Registry.Example.com:5000/team/app:latest"),
    ],
)
def test_a_tag_may_have_capitals_and_a_registry_host_too(tag: str, expected: str) -> None:
    assert normalise_tag(tag) == expected


@pytest.mark.parametrize(
    ("tag", "why"),
    [
        ("localhost/MyApp", "the repository name 'localhost/MyApp' must be lower-case"),
        ("localhost/app:", "nothing follows ':' (the tag)"),
        ("localhost/app:-x", "the tag '-x' must be 1-128 letters"),
        ("localhost/app:" + "x" * 129, "must be 1-128 letters"),
        ("localhost/app@sha256:" + "0" * 64, "a digest (@sha256:...) names an existing image"),
        ("localhost/my app", "it contains ' '"),
        ("localhost/a..b", "'a..b' in the repository name: use lower-case letters and digits"),
        ("", "it is empty"),
        (7, "it is not a string"),
    ],
)
def test_an_invalid_tag_says_what_is_wrong(tag: object, why: str) -> None:
    with pytest.raises(RecipeError) as caught:
        normalise_tag(tag)
    message = str(caught.value)
    assert message.startswith(f"invalid image tag {tag!r}: ") and why in message, message


# -- owner= --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("owner", "parsed"),
    [
        ("app", ("app", None)),
        ("app:web", ("app", "web")),
        ("1000:1000", (1000, 1000)),
        ("app:0", ("app", 0)),
        (1000, (1000, None)),
        ((1000, "web"), (1000, "web")),
        (None, None),
    ],
)
def test_owner_forms(owner: object, parsed: object) -> None:
    assert check_owner(owner) == parsed


@pytest.mark.parametrize("owner", ["", ":", "app:", ":app", "a:b:c", "bad name", -1, True, 2.0])
def test_bad_owners(owner: object) -> None:
    with pytest.raises(BuildError, match="invalid owner"):
        check_owner(owner)


PASSWD = "root:x:0:0::/root:/bin/bash\napp:x:1000:1001::/srv:/sbin/nologin\n"
GROUP = "root:x:0:\napp:x:1000:\nweb:x:1001:\n"


@pytest.mark.parametrize(
    ("owner", "ids"),
    [
        (("app", None), (1000, 1001)),  # a name: its primary group
        (("app", "app"), (1000, 1000)),
        (("app", "web"), (1000, 1001)),
        ((1000, None), (1000, 1001)),  # a uid with an entry: its primary group
        ((4242, None), (4242, 4242)),  # one without: the same number
        ((4242, 7), (4242, 7)),
        (("root", None), (0, 0)),
    ],
)
def test_owners_resolve_against_the_images_account_files(
    owner: tuple[str | int, str | int | None], ids: tuple[int, int]
) -> None:
    assert accounts.owner_ids(PASSWD, GROUP, owner) == ids


def test_an_unknown_user_or_group_names_the_file_it_is_missing_from() -> None:
    with pytest.raises(
        BuildError, match=r"owner 'nginx': no user 'nginx' in the image's /etc/passwd"
    ):
        accounts.owner_ids(PASSWD, GROUP, ("nginx", None))
    with pytest.raises(
        BuildError, match=r"owner 'app:db': no group 'db' in the image's /etc/group"
    ):
        accounts.owner_ids(PASSWD, GROUP, ("app", "db"))


def test_owner_shows_in_the_steps_and_reaches_the_engine() -> None:
    seen: list[object] = []

    class Watch(DryEngine):
        def write(self, path: str, data: bytes, mode: int, owner: object = None) -> None:
            seen.append(owner)

        def mkdir(self, path: str, mode: int, owner: object = None) -> None:
            seen.append(owner)

    image = Image(Watch())
    image.write_file("/etc/app.conf", "x", owner="app:app")
    image.mkdir("/srv", owner=(1000, 1000))
    image.write_file("/etc/plain", "x")
    assert image.steps == [
        "write /etc/app.conf (1 bytes, mode 644, owner app:app)",
        "mkdir /srv (mode 755, owner 1000:1000)",
        "write /etc/plain (1 bytes, mode 644)",
    ]
    assert seen == [("app", "app"), (1000, 1000), None]


# -- the confined edits --------------------------------------------------------------------------
@pytest.fixture
def rootfs(tmp_path: Path) -> RootFS:
    (tmp_path / "root" / "etc").mkdir(parents=True)
    with RootFS(tmp_path / "root") as handle:
        yield handle


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to other ids needs root")
def test_owner_is_set_on_the_written_file_never_through_a_link(
    rootfs: RootFS, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.write_text("host\n")
    (rootfs.path / "etc" / "link").symlink_to(outside)
    rootfs.write_bytes("/etc/link", b"x", 0o4755, owner=(1000, 1001))
    st = (rootfs.path / "etc" / "link").lstat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1001, 0o4755)
    assert outside.stat().st_uid == 0 and outside.read_text() == "host\n"
    (rootfs.path / "etc" / "real").mkdir()
    (rootfs.path / "etc" / "dirlink").symlink_to("/etc/real")
    with pytest.raises(OSError):  # a link where the directory should be is not chowned
        rootfs.mkdir("/etc/dirlink", 0o755, (1000, 1000))
    assert (rootfs.path / "etc" / "real").stat().st_uid == 0
    rootfs.lchown("/etc/dirlink", (7, 7))
    assert (rootfs.path / "etc" / "dirlink").lstat().st_uid == 7
    assert (rootfs.path / "etc" / "real").stat().st_uid == 0


def test_copy_makes_parents_puts_a_dirs_contents_at_dest_and_keeps_modes(
    rootfs: RootFS, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "run").write_text("#!/bin/sh\n")
    (source / "sub" / "run").chmod(0o750)
    (source / "sub").chmod(0o700)
    rootfs.copy_in(source, "/opt/app")
    assert sorted(os.listdir(rootfs.path / "opt" / "app")) == ["sub"]  # contents, not src/
    assert stat.S_IMODE((rootfs.path / "opt/app/sub").stat().st_mode) == 0o700
    assert stat.S_IMODE((rootfs.path / "opt/app/sub/run").stat().st_mode) == 0o750
    assert stat.S_IMODE((rootfs.path / "opt").stat().st_mode) == 0o755
    rootfs.copy_in(source / "sub" / "run", "/usr/local/bin/")  # a file into a dir/, as COPY
    rootfs.copy_in(source / "sub" / "run", "/opt/app")  # into an existing directory
    assert (rootfs.path / "usr/local/bin/run").is_file()
    assert (rootfs.path / "opt/app/run").is_file()
    rootfs.symlink("/opt/app/run", "/usr/bin/x/run", parents=True)
    assert os.readlink(rootfs.path / "usr/bin/x/run") == "/opt/app/run"
    with pytest.raises(FileNotFoundError):  # the rootfs's own callers still ask for parents
        rootfs.symlink("/a", "/no/such/dir/link")


def test_a_relative_host_path_is_the_recipe_directorys_and_the_digest_hashes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipes = tmp_path / "recipes"
    (recipes / "files").mkdir(parents=True)
    (recipes / "files" / "app.conf").write_text("one\n")
    path = write(
        recipes,
        "app.py",
        """
        from buildahpy import recipe

        @recipe("localhost/app")
        def app(image):
            image.copy("files/app.conf", "/etc/app.conf")
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "files").mkdir(parents=True)
    (elsewhere / "files" / "app.conf").write_text("decoy\n")
    monkeypatch.chdir(elsewhere)
    (entry,) = load_file(path)
    (tmp_path / "f.repo").write_text("[f]\nbaseurl=file:///x\n")
    options = Options(repo_files=(tmp_path / "f.repo",))
    run = inputs.dry_run(entry)
    assert run.copied == (recipes.resolve() / "files" / "app.conf",)
    before = inputs.recipe_inputs(entry, options, DEBIAN, "dnf4")
    (elsewhere / "files" / "app.conf").write_text("decoy changed\n")
    assert inputs.recipe_inputs(entry, options, DEBIAN, "dnf4") == before
    (recipes / "files" / "app.conf").write_text("two\n")
    assert inputs.recipe_inputs(entry, options, DEBIAN, "dnf4") != before


# -- config --------------------------------------------------------------------------------------
def test_none_removes_and_empty_lists_clear_what_a_base_set() -> None:
    config = (
        ImageConfig()
        .merge(env={"A": "1", "B": "2"}, labels={"x": "1"}, annotations={"n": "1"})
        .merge(env={"A": None}, labels={"y": None}, cmd=[], annotations={"n": None})
    )
    assert (config.env, config.env_removed) == ((("B", "2"),), ("A",))
    assert (config.labels, config.labels_removed) == ((("x", "1"),), ("y",))
    assert (config.annotations, config.annotations_removed) == ((), ("n",))
    assert config.cmd == ()
    again = config.merge(env={"A": "3"})  # set again after removal: set, not removed
    assert (again.env, again.env_removed) == ((("A", "3"), ("B", "2")), ())
    argv = buildah.config_argv("c", config)
    assert argv == [
        "buildah",
        "config",
        "--cmd=[]",
        "--env=B=2",
        "--env=A-",
        "--label=x=1",
        "--label=y-",
        "--annotation=n-",
        "c",
    ]
    base = {"Cmd": ["sh"], "Env": ["A=0", "C=1"], "Entrypoint": ["/bin/busybox"]}
    seen = runtime(config, base)  # what the checks see: the base's cmd and A are gone
    assert (seen.cmd, seen.entrypoint, seen.env) == (
        (),
        ("/bin/busybox",),
        (("B", "2"), ("C", "1")),
    )


def test_stop_signal_annotations_and_healthcheck_as_buildah_takes_them() -> None:
    config = ImageConfig().merge(
        stop_signal="SIGQUIT",
        healthcheck={
            "cmd": ["/bin/check", "--url", "http://localhost/a b"],
            "interval": "30s",
            "timeout": "1m30s",
            "start_period": "500ms",
            "retries": 5,
        },
    )
    assert config.needs_docker_format
    assert buildah.config_argv("c", config)[2:] == [
        "--stop-signal=SIGQUIT",
        "--healthcheck=CMD /bin/check --url 'http://localhost/a b'",
        "--healthcheck-interval=30s",
        "--healthcheck-timeout=1m30s",
        "--healthcheck-start-period=500ms",
        "--healthcheck-retries=5",
        "c",
    ]
    assert "--format=docker" in buildah.commit_argv("c", "/w/iid", docker=True)
    assert "--format=oci" in buildah.commit_argv("c", "/w/iid")
    off = ImageConfig().merge(healthcheck=[])
    assert buildah.config_argv("c", off)[2:] == ["--healthcheck=NONE", "c"]
    notes = ImageConfig().merge(annotations={"org.example.a": "1"}, stop_signal=3)
    assert not notes.needs_docker_format
    assert buildah.config_argv("c", notes)[2:] == [
        "--annotation=org.example.a=1",
        "--stop-signal=3",
        "c",
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"stop_signal": "sigterm; x"}, "invalid signal"),
        ({"healthcheck": "curl -f localhost"}, "healthcheck cmd must be a non-empty list"),
        ({"healthcheck": {"cmd": ["/x"], "every": "3s"}}, "with keys cmd, interval"),
        ({"healthcheck": {"cmd": ["/x"], "interval": "30"}}, "invalid duration '30'"),
        ({"healthcheck": {"cmd": ["/x"], "retries": 0}}, "retries: expected 1..999"),
        ({"annotations": {"a": 1}}, "one-line string"),
        ({"env": {"A": 1}}, r"one-line string \(None removes it\)"),
        (
            {"annotations": {"a": "1"}, "healthcheck": ["/x"]},
            "healthcheck needs the docker image format, which has no annotations",
        ),
    ],
)
def test_bad_new_config_values(fields: dict, message: str) -> None:
    with pytest.raises(BuildError, match=message):
        ImageConfig().merge(**fields)


def test_the_dry_run_shows_the_new_config_and_the_docker_format(tmp_path: Path) -> None:
    plan = sample_plan()
    engine = PlanEngine(plan)
    image = Image(engine)
    image.config(
        cmd=[], env={"X": None}, labels={"L": None}, stop_signal="SIGINT", healthcheck=["/x"]
    )
    out = io.StringIO()
    print_plan(plan, image, engine, out)
    text = out.getvalue()
    for expected in (
        "--cmd=[]",
        "--env=X-",
        "--label=L-",
        "--stop-signal=SIGINT",
        "'--healthcheck=CMD /x'",
        "--format=docker",
    ):
        assert expected in text, (expected, text)
    assert Healthcheck.parse(["/x"]).cmd == ("/x",)


# -- did you mean --------------------------------------------------------------------------------
PRIMARY = (
    '<metadata xmlns="http://linux.duke.edu/metadata/common" '
    'xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="3">'
    + "".join(
        f'<package type="rpm"><name>{name}</name><arch>noarch</arch>'
        f'<rpm:format><rpm:provides><rpm:entry name="prov-{name}"/></rpm:provides></rpm:format>'
        "</package>"
        for name in ("nginx", "nginx-filesystem", "busybox")
    )
    + "</metadata>"
).encode()


def test_the_nearest_names_come_from_the_metadata_dnf_left_in_its_cache(tmp_path: Path) -> None:
    host = tmp_path / "cache" / "fixture-0123" / "repodata"
    host.mkdir(parents=True)
    (host / "abc-primary.xml.gz").write_bytes(gzip.compress(PRIMARY))
    (host / "abc-filelists.xml.gz").write_bytes(b"not read")
    image = tmp_path / "root" / "var" / "cache" / "libdnf5" / "other-4567" / "repodata"
    image.mkdir(parents=True)
    (image / "def-primary.xml").write_bytes(PRIMARY.replace(b"busybox", b"bash"))
    with RootFS(tmp_path / "root") as root:
        names = repodata.cached_names([tmp_path / "cache"], root, ["/var/cache/libdnf5"])
    assert names == {"nginx", "nginx-filesystem", "busybox", "bash"}
    hint = "package not found in the enabled repositories: ngnix"
    assert suggest.with_suggestions(hint, names) == f"{hint}; did you mean 'nginx'?"
    two = "package not found in the enabled repositories: ngnix, zzz"
    assert suggest.with_suggestions(two, names) == (
        "package not found in the enabled repositories: ngnix (did you mean 'nginx'?), zzz"
    )
    assert suggest.with_suggestions("dependency problem: x", names) == "dependency problem: x"
    assert suggest.close_names("/usr/bin/ngnix", names) == []  # a path: no name is near
    assert suggest.close_names("busybx", names) == ["busybox"]
