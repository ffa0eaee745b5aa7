"""CentOS Stream 9 and 10: BaseOS + AppStream, from CentOS's metalink or a mirror laid out as
mirror.stream.centos.org is (``N-stream/BaseOS/ARCH/os``)."""

from __future__ import annotations

from buildahpy.plan.distributions import Family, Key, RepoDef, join, numeric


def repos(releasever: str, mirror: str) -> list[RepoDef]:
    stream = f"{releasever}-stream"  # CentOS's $stream, written out: the host may not define it
    found = []
    for repo in ("BaseOS", "AppStream"):
        name = f"CentOS Stream {releasever} - {repo}"
        if mirror:
            url = join(mirror, f"{stream}/{repo}/$basearch/os/")
            found.append(RepoDef(repo.lower(), name, "baseurl", url))
        else:
            url = (
                "https://mirrors.centos.org/metalink"
                f"?repo=centos-{repo.lower()}-{stream}&arch=$basearch&protocol=https"
            )
            found.append(RepoDef(repo.lower(), name, "metalink", url))
    return found


def keys(releasever: str) -> list[Key]:
    # Stream 10 is signed with the SHA-256 re-issue of the same key
    if releasever == "9":
        return [
            Key(
                "RPM-GPG-KEY-CentOS-Official",
                "centos",
                "centos-gpg-keys",
                "RPM-GPG-KEY-centosofficial",
            )
        ]
    return [
        Key(
            "RPM-GPG-KEY-CentOS-Official-SHA256",
            "centos",
            "centos-gpg-keys",
            "RPM-GPG-KEY-centosofficial-SHA256",
        )
    ]


FAMILY = Family("centos-stream", "9, 10", numeric(9, 10), repos, keys)
