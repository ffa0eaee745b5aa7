"""Fedora: fedora + updates (rawhide: one repository), from Fedora's metalink or a mirror laid
out as Fedora's are (``releases/N/Everything/ARCH/os``, ``updates/N/Everything/ARCH``)."""

from __future__ import annotations

from buildahpy.plan.distributions import Family, Key, RepoDef, join


def accepts(releasever: str) -> bool:
    # 36: the first release with the rpmdb in /usr (plan/distro.py); later ones as they come
    return releasever == "rawhide" or (releasever.isdigit() and int(releasever) >= 36)


def repos(releasever: str, mirror: str) -> list[RepoDef]:
    metalink = "https://mirrors.fedoraproject.org/metalink"
    if releasever == "rawhide":
        if mirror:
            url = join(mirror, "development/rawhide/Everything/$basearch/os/")
            return [RepoDef("fedora", "Fedora rawhide", "baseurl", url)]
        url = f"{metalink}?repo=rawhide&arch=$basearch"
        return [RepoDef("fedora", "Fedora rawhide", "metalink", url)]
    if mirror:
        return [
            RepoDef(
                "fedora",
                f"Fedora {releasever}",
                "baseurl",
                join(mirror, "releases/$releasever/Everything/$basearch/os/"),
            ),
            RepoDef(
                "updates",
                f"Fedora {releasever} updates",
                "baseurl",
                join(mirror, "updates/$releasever/Everything/$basearch/"),
            ),
        ]
    return [
        RepoDef(
            "fedora",
            f"Fedora {releasever}",
            "metalink",
            f"{metalink}?repo=fedora-$releasever&arch=$basearch",
        ),
        RepoDef(
            "updates",
            f"Fedora {releasever} updates",
            "metalink",
            f"{metalink}?repo=updates-released-f$releasever&arch=$basearch",
        ),
    ]


def keys(releasever: str) -> list[Key]:
    return [Key(f"RPM-GPG-KEY-fedora-{releasever}-primary", "fedora", "fedora-gpg-keys")]


FAMILY = Family("fedora", "36 and later, rawhide", accepts, repos, keys)
