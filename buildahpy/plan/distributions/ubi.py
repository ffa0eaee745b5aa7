"""Red Hat Universal Base Image 8, 9 and 10: the public UBI content (no subscription), BaseOS
+ AppStream, from cdn-ubi.redhat.com (which publishes plain baseurls) or a mirror of its layout
(``ubiN/N/ARCH/baseos/os``)."""

from __future__ import annotations

from buildahpy.plan.distributions import Family, Key, RepoDef, join, numeric

CDN = "https://cdn-ubi.redhat.com/content/public/ubi/dist/"


def repos(releasever: str, mirror: str) -> list[RepoDef]:
    base = mirror or CDN
    return [
        RepoDef(
            f"ubi-{releasever}-{repo}-rpms",
            f"Red Hat Universal Base Image {releasever} ({repo} RPMs)",
            "baseurl",
            join(base, f"ubi{releasever}/{releasever}/$basearch/{repo}/os/"),
        )
        for repo in ("baseos", "appstream")
    ]


def keys(releasever: str) -> list[Key]:
    return [
        Key(
            f"RPM-GPG-KEY-redhat{releasever}-release",
            "redhat",
            "redhat-release",
            "RPM-GPG-KEY-redhat-release",
        )
    ]


FAMILY = Family("ubi", "8, 9, 10", numeric(8, 10), repos, keys)
