"""The checks before commit, in real builds: a broken image is never committed, a sound one is.

Each failing case first builds a good image under the same tag, then a recipe that fails one
check, and asserts exit 1, one error line naming the cause, no working container (the builder
fixture), no new image, and the tag still on the previous image.
"""

from __future__ import annotations

import json
import sysconfig

import pytest
from conftest import ROOT, Builder

pytestmark = pytest.mark.integration

TRIPLET = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
PCRE = f"/usr/lib/{TRIPLET}/libpcre2-8.so.0"  # where the fixture's pcre2 puts nginx's library

HEAD = (
    "from buildahpy import recipe\n\n\n@recipe('localhost/checked'{options})\ndef checked(image):\n"
)
GOOD = "    image.install('busybox')\n    image.config(entrypoint=['/usr/sbin/busybox', 'sh'])\n"
NGINX_WITHOUT_PCRE = (
    "    image.install('glibc-minimal-langpack', 'coreutils-single', 'nginx')\n"
    f"    image.run(['/usr/bin/rm', '{PCRE}'])\n"
    "    image.config(entrypoint=['/usr/sbin/nginx', '-g', 'daemon off;'])\n"
)
FAILING = {
    "entrypoint missing": (
        "    image.install('busybox')\n    image.config(entrypoint=['/usr/bin/nothere'])\n",
        "check entrypoint: /usr/bin/nothere is not in the image",
    ),
    "interpreter missing": (
        "    image.install('busybox')\n    image.mkdir('/usr/local/bin')\n"
        "    image.write_file('/usr/local/bin/start', '#!/usr/bin/python3\\nprint(1)\\n', 0o755)\n"
        "    image.config(entrypoint=['/usr/local/bin/start'])\n",
        "check entrypoint: /usr/local/bin/start is a script for /usr/bin/python3, "
        "which is not in the image",
    ),
    "program not on PATH": (
        "    image.install('busybox')\n"
        "    image.config(cmd=['busybox-extras'], env={'PATH': '/usr/bin:/usr/sbin'})\n",
        "check entrypoint: busybox-extras is not on the image's PATH (/usr/bin:/usr/sbin)",
    ),
    "user missing": (
        "    image.install('busybox')\n"
        "    image.config(entrypoint=['/usr/sbin/busybox', 'sh'], user='app')\n",
        "check user: user 'app' is not in the image's /etc/passwd",
    ),
    "library missing": (
        NGINX_WITHOUT_PCRE,
        "check libraries: /usr/sbin/nginx needs libpcre2-8.so.0, which is not in the image "
        "(search path: ",
    ),
}


def checked(builder: Builder, body: str, options: str = "", name: str = "checked.py") -> str:
    return str(builder.recipe(name, HEAD.format(options=options) + body))


def json_events(stderr: str, event: str) -> list[dict[str, str]]:
    found = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == event:
                found.append(entry)
    return found


@pytest.mark.parametrize("case", sorted(FAILING))
def test_a_failed_check_fails_the_build_and_keeps_the_previous_image(
    builder: Builder, case: str
) -> None:
    assert builder.cli(checked(builder, GOOD, name="good.py")).returncode == 0
    before = builder.image_id("localhost/checked:latest")
    images_before = builder.tool("buildah", "images", "--all", "--quiet").split()
    body, needle = FAILING[case]
    result = builder.cli(checked(builder, body))
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("buildahpy: checked: ") and needle in errors[0], errors[0]
    assert builder.image_id("localhost/checked:latest") == before
    assert builder.tool("buildah", "images", "--all", "--quiet").split() == images_before


def test_the_talks_images_build_and_pass_every_check(builder: Builder) -> None:
    recipes = [ROOT / "recipes" / name for name in ("nginx.py", "bash_base.py", "busybox.py")]
    result = builder.cli(*recipes, "--rebuild", "--log-format", "json")
    assert result.returncode == 0, result.stderr
    events = {event["recipe"]: event for event in json_events(result.stderr, "checks")}
    assert sorted(events) == ["bash_base", "busybox", "nginx"], result.stderr
    for name, event in events.items():
        assert event["entrypoint"].startswith("ok: "), (name, event)
        assert event["libraries"].startswith("ok: "), (name, event)
        assert event["user"] == "skipped: no user set", (name, event)
        assert event["workdir"] == "skipped: no workdir set", (name, event)
    assert "/usr/sbin/nginx" in events["nginx"]["entrypoint"]
    assert "/usr/bin/bash" in events["bash_base"]["entrypoint"]  # /bin/bash, /bin -> usr/bin
    assert " 0 ELF files need libraries" not in events["nginx"]["libraries"]


def test_user_and_workdir_are_checked_and_the_workdir_made(builder: Builder) -> None:
    body = (
        "    image.install('glibc-minimal-langpack', 'coreutils-single', 'nginx')\n"
        "    image.config(entrypoint=['nginx', '-g', 'daemon off;'], user='nginx:nginx',\n"
        "                 workdir='/srv/www/site')\n"
    )
    result = builder.cli(checked(builder, body), "--log-format", "json")
    assert result.returncode == 0, result.stderr
    (event,) = json_events(result.stderr, "checks")
    assert event["user"].startswith("ok: nginx:nginx"), event
    assert event["workdir"].startswith("created /srv/www/site"), event
    assert event["entrypoint"].startswith("ok: nginx -> /usr/sbin/nginx"), event
    with builder.mounted("localhost/checked:latest") as root:
        passwd = (root / "etc/passwd").read_text().splitlines()
        uid, gid = next(line.split(":")[2:4] for line in passwd if line.startswith("nginx:"))
        site = (root / "srv/www/site").stat()
        assert (site.st_uid, site.st_gid) == (int(uid), int(gid))
        assert (root / "srv/www").stat().st_uid == 0


def test_a_recipe_can_opt_out_of_one_check_with_a_reason(builder: Builder) -> None:
    options = ", checks={'libraries': 'pcre2 comes from a volume at run time'}"
    result = builder.cli(checked(builder, NGINX_WITHOUT_PCRE, options), "--log-format", "json")
    assert result.returncode == 0, result.stderr
    (event,) = json_events(result.stderr, "checks")
    assert event["libraries"] == "skipped by the recipe: pcre2 comes from a volume at run time"
    assert event["entrypoint"].startswith("ok: "), event
    assert "libraries" in event["skipped"] and "libraries" not in event["ran"], event
    # what the check would have stopped: the committed image's nginx cannot start
    run = builder.run_in("localhost/checked:latest", "/usr/sbin/nginx", "-t")
    assert run.returncode != 0 and "libpcre2-8.so.0" in run.stderr, run.stderr


def test_an_unknown_check_name_is_a_recipe_error(builder: Builder) -> None:
    images_before = builder.tool("buildah", "images", "--all", "--quiet").split()
    result = builder.cli(checked(builder, GOOD, ", checks={'libs': 'typo'}"))
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy:")]
    assert len(errors) == 1 and "checked.py:4: unknown check 'libs' in checks=" in errors[0]
    assert builder.tool("buildah", "images", "--all", "--quiet").split() == images_before


def test_the_entrypoint_a_base_image_sets_is_checked_too(builder: Builder) -> None:
    body = (
        "from buildahpy import recipe\n\n\n@recipe('localhost/checked-base')\ndef base(image):\n"
        "    image.install('busybox')\n"
        "    image.config(entrypoint=['/usr/sbin/busybox', 'sh'])\n\n\n"
        "@recipe('localhost/checked-app', base=base)\ndef app(image):\n"
        "    image.install('bash')\n    image.remove('busybox')\n"
    )
    result = builder.cli(builder.recipe("based.py", body))
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy:")]
    assert errors == ["buildahpy: app: check entrypoint: /usr/sbin/busybox is not in the image"]
    assert builder.image_id("localhost/checked-base:latest") is not None
    assert builder.image_id("localhost/checked-app:latest") is None
