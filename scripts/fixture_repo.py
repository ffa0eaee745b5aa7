#!/usr/bin/env python3
"""Build a Fedora-shaped RPM repository from this Debian host's own binaries.

Usage: python3 scripts/fixture_repo.py OUTDIR [--deb-cache DIR]; or build_repo(Path(OUTDIR)).
Leaves OUTDIR/Packages/*.rpm, OUTDIR/repodata and OUTDIR/fixture.repo (repo id "fixture").

Host tools: apt-get (download; update once if a download fails), dpkg-deb, dpkg -S, rpmbuild,
createrepo_c. Debian/Ubuntu hosts only; elsewhere it stops with one line saying so.

Why images installed from it run:
- Every /bin, /sbin, /lib, /lib64 path of a .deb moves under /usr, so only `filesystem` owns those
  four names (usrmerge symlinks): rpm fails where one package has a directory and another a symlink.
- Libraries stay in Debian's multiarch dir /usr/lib/<triplet>, a built-in search dir of Debian's
  ld.so, so no ld.so.cache is needed. Each binary's PT_INTERP is checked to be shipped by glibc.
- AutoReqProv is off; Requires/Provides are written into the spec, computed here from DT_NEEDED and
  DT_SONAME in rpm's spelling (`libc.so.6()(64bit)`). A soname nobody provides pulls in its Debian
  package (dpkg -S, else the Depends of the .deb needing it) under a Fedora name or `<deb>-fixture`.

Traps the tests rely on:
- glibc Requires the virtual `glibc-langpack`, provided by glibc-all-langpacks (~25 MiB of real
  locales), glibc-langpack-en and glibc-minimal-langpack. Even with weak deps off libsolv prefers,
  among providers, one that a package in the transaction Recommends: glibc-common's
  `Recommends: glibc-all-langpacks` is the mechanism (checked: pointing it at the minimal langpack
  flips the choice; without it name order happens to pick all-langpacks too). Naming
  glibc-minimal-langpack on the command line picks it.
- nginx Requires `coreutils`; coreutils-single (busybox as a multi-call binary) Provides
  `coreutils = V-R`; each Conflicts with the other. dnf picks coreutils unless coreutils-single is
  named.
- Weak deps: glibc-common -> glibc-all-langpacks, bash -> bash-completion, nginx -> nginx-docs
  (~5 MiB html), logrotate. broken-scriptlet's %pre exits 1; needs-missing Requires
  does-not-exist-anywhere. nginx-filesystem's %pre adds the nginx user with shell builtins only.
- bash ships %lang(de|fr|es) .mo files; docs and man pages are %doc (dropped by --nodocs); Debian
  copyright files become %license under /usr/share/licenses (kept, as in Fedora).

Cache: OUTDIR/.stamp holds sha256(this file + rpm arch); when it matches, nothing is rebuilt.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import fnmatch
import hashlib
import os
import posixpath
import random
import shlex
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

# fmt: off
RELEASE = "1.fc40"
USRMERGE = {"/bin": "usr/bin", "/sbin": "usr/sbin", "/lib": "usr/lib", "/lib64": "usr/lib64"}
BASE_DEBS = ["libc6", "libc-bin", "locales-all", "coreutils", "busybox-static", "bash", "nginx",
             "bash-completion", "nginx-common", "nginx-doc", "logrotate"]
# Debian library package (any "t64" suffix dropped) -> (Fedora name, License, URL).
FEDORA_LIBS = {
    "libtinfo6": ("ncurses-libs", "MIT", "https://invisible-island.net/ncurses/"),
    "libpcre2-8-0": ("pcre2", "BSD-3-Clause", "https://www.pcre.org/"),
    "libssl3": ("openssl-libs", "Apache-2.0", "https://www.openssl.org/"),
    "zlib1g": ("zlib", "Zlib", "https://www.zlib.net/"),
    "libcrypt1": ("libxcrypt", "LGPL-2.1-or-later", "https://github.com/besser82/libxcrypt"),
    "libacl1": ("libacl", "LGPL-2.1-or-later", "https://savannah.nongnu.org/projects/acl"),
    "libattr1": ("libattr", "LGPL-2.1-or-later", "https://savannah.nongnu.org/projects/attr"),
    "libselinux1": ("libselinux", "LicenseRef-Fedora-Public-Domain", "https://selinuxproject.org"),
    "libgmp10": ("gmp", "LGPL-3.0-or-later OR GPL-2.0-or-later", "https://gmplib.org/"),
    "libzstd1": ("libzstd", "BSD-3-Clause OR GPL-2.0-only", "https://github.com/facebook/zstd"),
    "libcap2": ("libcap", "BSD-3-Clause OR GPL-2.0-only", "https://sites.google.com/site/fullycapable/"),
    "liblzma5": ("xz-libs", "0BSD", "https://tukaani.org/xz/"),
    "libbz2-1.0": ("bzip2-libs", "bzip2-1.0.6", "https://sourceware.org/bzip2/"),
}
FS_DIRS = ("/boot", "/dev", "/etc", "/etc/ld.so.conf.d", "/home", "/media", "/mnt", "/opt", "/run",
           "/run/lock", "/srv", "/usr", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64",
           "/usr/libexec", "/usr/include", "/usr/local", "/usr/share", "/usr/share/doc",
           "/usr/share/info", "/usr/share/licenses", "/usr/share/locale", "/usr/share/man", "/var",
           "/var/cache", "/var/lib", "/var/log", "/var/opt", "/var/spool", "/var/empty",
           *(f"/usr/share/man/man{n}" for n in "12345678"))
LOCALES = ("de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "ja_JP", "zh_CN", "ru_RU", "pl_PL", "nl_NL")
# fmt: on


class FixtureError(Exception):
    """One line for the user: what failed and what to do."""


def say(msg: str) -> None:
    print(f"fixture_repo: {msg}", file=sys.stderr, flush=True)


def run(
    argv: list[str], cwd: Path | None = None, home: Path | None = None, ok: tuple[int, ...] = (0,)
) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin"),
        "LC_ALL": "C.UTF-8",
        "HOME": str(home or tempfile.gettempdir()),
    }
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode not in ok:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        tail = " | ".join(lines[-3:])
        raise FixtureError(f"{shlex.join(argv[:4])} failed (exit {proc.returncode}): {tail}")
    return proc.stdout


# ------------------------------------------------------------------ host, .deb cache, ELF reading


@dataclasses.dataclass(frozen=True)
class Host:
    arch: str  # rpm arch: x86_64 or aarch64
    triplet: str  # Debian multiarch: x86_64-linux-gnu


def detect_host() -> Host:
    tools = ("apt-get", "dpkg", "dpkg-deb", "rpmbuild", "createrepo_c")
    if missing := [t for t in tools if not shutil.which(t)]:
        raise FixtureError(
            f"needs a Debian/Ubuntu host with {', '.join(missing)} "
            "(apt-get install rpm createrepo-c)"
        )
    arch = os.uname().machine
    if arch not in ("x86_64", "aarch64"):
        raise FixtureError(f"unsupported architecture {arch}: only x86_64 and aarch64")
    if shutil.which("dpkg-architecture"):
        return Host(arch, run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"]).strip())
    return Host(arch, run(["gcc", "-dumpmachine"]).strip())


@dataclasses.dataclass
class Ctx:
    """Run state: the .deb cache, the work dir, and what was extracted there."""

    host: Host
    cache: Path
    work: Path
    extracted: dict[str, Path] = dataclasses.field(default_factory=dict)
    aliases: dict[str, str] = dataclasses.field(default_factory=dict)  # "nginx-bin" -> real name
    updated: bool = False
    deb_arch: str = ""  # another architecture's packages (":arm64"), for a foreign repository

    def deb_file(self, name: str) -> Path:
        name = self.aliases.get(name, name)
        found = sorted(self.cache.glob(f"{name}_*.deb"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise FixtureError(f"{name}_*.deb is not in {self.cache}")
        return found[-1]

    def fetch(self, names: list[str]) -> None:
        if not (todo := [n for n in names if not list(self.cache.glob(f"{n}_*.deb"))]):
            return
        say(f"apt-get download {' '.join(todo)}")
        wanted = [f"{n}{self.deb_arch}" for n in todo]
        argv = ["apt-get", "-q", "-o", "APT::Sandbox::User=root", "download", *wanted]
        try:
            run(argv, cwd=self.cache)
        except FixtureError:
            if self.updated:
                raise
            say("apt-get download failed; running apt-get update once")
            run(["apt-get", "-q", "update"])
            self.updated = True
            run(argv, cwd=self.cache)

    def extract(self, name: str) -> Path:
        name = self.aliases.get(name, name)
        if name not in self.extracted:
            self.fetch([name])
            (dest := self.work / "debs" / name).mkdir(parents=True)
            run(["dpkg-deb", "-x", str(self.deb_file(name)), str(dest)])
            self.extracted[name] = dest
        return self.extracted[name]

    def field(self, name: str, *fields: str) -> str:
        lines = run(["dpkg-deb", "-f", str(self.deb_file(name)), *fields]).splitlines()
        return ",".join(ln.partition(": ")[2] if len(fields) > 1 else ln for ln in lines)

    def version(self, name: str) -> str:
        """Debian `1:1.2.13.dfsg-1+b1` -> rpm Version `1.2.13.dfsg`."""
        return self.field(name, "Version").split(":", 1)[-1].rsplit("-", 1)[0].replace("-", "_")

    def depends(self, name: str) -> list[str]:
        text = self.field(name, "Pre-Depends", "Depends")  # coreutils has only Pre-Depends
        return [a.split("(")[0].split(":")[0].strip() for a in text.replace("|", ",").split(",")]


@dataclasses.dataclass(frozen=True)
class Elf:
    soname: str
    needed: tuple[str, ...]
    interp: str
    is64: bool


def read_elf(path: Path) -> Elf | None:
    """DT_SONAME, DT_NEEDED and PT_INTERP of an ELF file (stdlib only: no binutils needed)."""
    with path.open("rb") as f:
        if f.read(4) != b"\x7fELF":
            return None
        data = b"\x7fELF" + f.read()
    is64, end = data[4] == 2, "<" if data[5] == 1 else ">"
    (phoff,) = struct.unpack_from(end + ("Q" if is64 else "I"), data, 0x20 if is64 else 0x1C)
    phent, phnum = struct.unpack_from(end + "HH", data, 0x36 if is64 else 0x2A)
    segs = []  # (p_type, p_offset, p_vaddr, p_filesz)
    for at in range(phoff, phoff + phent * phnum, phent):
        if is64:
            ptype, _, off, vaddr, _, size = struct.unpack_from(end + "IIQQQQ", data, at)
        else:
            ptype, off, vaddr, _, size = struct.unpack_from(end + "IIIII", data, at)
        segs.append((ptype, off, vaddr, size))
    interp, dyn, fmt = "", [], end + ("qQ" if is64 else "iI")
    for ptype, off, _, size in segs:
        if ptype == 3:  # PT_INTERP
            interp = data[off : off + size].rstrip(b"\0").decode()
        if ptype == 2:  # PT_DYNAMIC
            entries = (
                struct.unpack_from(fmt, data, at)
                for at in range(off, off + size, struct.calcsize(fmt))
            )
            dyn = [(tag, val) for tag, val in entries if tag != 0]
    strtab = next((v for t, v in dyn if t == 5), None)  # DT_STRTAB, a virtual address
    if strtab is None:
        return Elf("", (), interp, is64)
    base = next(o + strtab - v for t, o, v, s in segs if t == 1 and v <= strtab < v + s)

    def text(i: int) -> str:
        return data[base + i : data.index(b"\0", base + i)].decode()

    soname = next((text(v) for t, v in dyn if t == 14), "")
    return Elf(soname, tuple(text(v) for t, v in dyn if t == 1), interp, is64)


def soname_dep(name: str, is64: bool) -> str:
    return f"{name}()(64bit)" if is64 else f"{name}()"


# ------------------------------------------------------------------ the package table


@dataclasses.dataclass(frozen=True)
class Pkg:
    name: str
    summary: str
    license: str
    url: str
    version: str = ""  # a fixed Version, else the upstream version of the .deb `version_of`
    version_of: str = ""
    noarch: bool = False
    take: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (deb, globs on the path in the rpm)
    rename: tuple[tuple[str, str], ...] = ()  # old -> new path; an old ending in "/" is a prefix
    content: tuple[tuple[str, str], ...] = ()  # generated files: (path, text)
    dirs: tuple[str, ...] = ()  # generated empty directories
    links: tuple[tuple[str, str], ...] = ()  # generated symlinks: (path, target)
    make: Callable[[Path, Ctx], None] | None = None  # generates larger content into the stage
    requires: tuple[str, ...] = ()
    requires_pre: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    recommends: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    attrs: tuple[tuple[str, str], ...] = ()  # path -> "%attr(...)"
    pre: str = ""
    post: tuple[str, str] = ()  # (interpreter, body) of a %post -p


def filler(seed: str, size: int) -> bytes:
    """Deterministic incompressible bytes: sizes stay real after rpm's payload compression."""
    return random.Random(seed).randbytes(size)


def write(root: Path, path: str, data: str | bytes) -> None:
    (dest := root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data.encode() if isinstance(data, str) else data)


def fs_dirs(host: Host) -> dict[str, int]:
    """Directories `filesystem` owns (other packages leave them out of %files), with modes."""
    plain = [*FS_DIRS, f"/usr/lib/{host.triplet}"]
    special = {"/root": 0o550, "/proc": 0o555, "/sys": 0o555, "/tmp": 0o1777, "/var/tmp": 0o1777}
    return dict.fromkeys(plain, 0o755) | special


def make_filesystem(root: Path, ctx: Ctx) -> None:
    for path, mode in fs_dirs(ctx.host).items():
        (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/")).chmod(mode)
    for link, target in {**USRMERGE, "/var/run": "../run", "/var/lock": "../run/lock"}.items():
        (root / link.lstrip("/")).symlink_to(target)


def copy_locales(root: Path, ctx: Ctx, names: list[str], budget: int) -> None:
    """Copy whole locale dirs from locales-all, symlinks resolved, until `budget` bytes."""
    tar_path = ctx.work / "locales-all.tar"  # read as one tar: extracting 9000 files costs ~10 s
    if not tar_path.exists():
        with tar_path.open("wb") as out:
            argv = ["dpkg-deb", "--fsys-tarfile", str(ctx.deb_file("locales-all"))]
            subprocess.run(argv, stdout=out, check=True)
    used = 0
    with tarfile.open(tar_path) as tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
        for name in names:
            prefix = f"usr/lib/locale/{name}/"
            for path in [p for p, m in members.items() if p.startswith(prefix) and not m.isdir()]:
                member = members[path]
                while member.issym():
                    target = posixpath.join(posixpath.dirname(member.name), member.linkname)
                    member = members[posixpath.normpath(target).removeprefix("./")]
                write(root, path, data := tar.extractfile(member).read())  # type: ignore[union-attr]
                used += len(data)
            if used >= budget:
                return
    # Short of the budget (a locales-all without per-locale dirs?): top up with generated data.
    write(root, f"/usr/lib/locale/fixture-{names[0]}/LC_COLLATE", filler(names[0], budget - used))


def make_all_langpacks(root: Path, ctx: Ctx) -> None:
    copy_locales(root, ctx, [f"{n}.utf8" for n in LOCALES], 25 * 2**20)


def make_langpack_en(root: Path, ctx: Ctx) -> None:
    copy_locales(root, ctx, ["en_US.utf8", "en_GB.utf8"], 4 * 2**20)


def make_nginx_docs(root: Path, ctx: Ctx) -> None:
    for i in range(50):  # 50 x 100 KiB of html
        body = filler(f"nginx-docs-{i}", 51_200).hex()
        write(root, f"/usr/share/doc/nginx-docs/html/page{i:02d}.html", f"<pre>{body}</pre>\n")


# fmt: off
GNU, NGX = "https://www.gnu.org/software/", "https://nginx.org/"
NOWHERE = "https://example.invalid/"
DOCS = ("/usr/share/doc/{pkg}/*", "/usr/share/licenses/{pkg}/*")  # {pkg}: the rpm's name
NGINX_DIRS = ("/etc/nginx", "/etc/nginx/conf.d", "/etc/nginx/default.d", "/usr/share/nginx/html",
              "/usr/share/nginx/modules", "/var/log/nginx", "/var/lib/nginx", "/var/lib/nginx/tmp",
              *(f"/var/lib/nginx/{d}" for d in ("body", "fastcgi", "proxy", "scgi", "uwsgi")))
NGINX_USER_PRE = """\
have=
while IFS=: read -r name rest; do [ "$name" = nginx ] && have=1; done < /etc/group
[ -n "$have" ] || echo 'nginx:x:975:' >> /etc/group
have=
while IFS=: read -r name rest; do [ "$name" = nginx ] && have=1; done < /etc/passwd
[ -n "$have" ] || echo 'nginx:x:975:975:Nginx:/var/lib/nginx:/sbin/nologin' >> /etc/passwd
exit 0
"""
NGINX_CONF = """\
# Fedora-like nginx.conf for the fixture: no modules-enabled or sites-enabled includes.
user nginx;
worker_processes auto;
error_log stderr;
pid /run/nginx.pid;

events {
    worker_connections 1024;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    include /etc/nginx/conf.d/*.conf;

    server {
        listen 80;
        server_name _;
        root /usr/share/nginx/html;
    }
}
"""
SETUP_FILES = (
    ("/etc/passwd", "root:x:0:0:Super User:/root:/bin/bash\n"),
    ("/etc/group", "root:x:0:\n"),
    ("/etc/shadow", "root:!locked::0:99999:7:::\n"),
    ("/etc/shells", "/bin/sh\n/bin/bash\n/usr/bin/sh\n/usr/bin/bash\n"),
    ("/etc/hosts", "127.0.0.1   localhost\n::1         localhost\n"),
    ("/etc/profile", 'export PATH="/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin"\n'),
)
NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nservices: files\n"
SINGLE = ("ls", "cat", "cp", "mv", "rm", "mkdir", "echo", "ln", "chmod", "chown", "id", "uname",
          "true", "false", "env", "head", "tail", "sort", "wc", "date", "sleep", "touch")
LIBC = "LGPL-2.1-or-later"
FEDORA_VERSION = RELEASE.split(".fc")[1]
OS_RELEASE = """\
NAME="Fedora Linux"
VERSION="{v} ({variant})"
ID=fedora
VERSION_ID={v}
PLATFORM_ID="platform:f{v}"
PRETTY_NAME="Fedora Linux {v} ({variant})"
CPE_NAME="cpe:/o:fedoraproject:fedora:{v}"
HOME_URL="https://fedoraproject.org/"
VARIANT="{variant}"
VARIANT_ID={variant_id}
"""


def identity(variant_id: str, variant: str) -> Pkg:
    """fedora-release-identity-VARIANT: /usr/lib/os-release (one variant at a time)."""
    text = OS_RELEASE.format(v=FEDORA_VERSION, variant=variant, variant_id=variant_id)
    return Pkg(f"fedora-release-identity-{variant_id}", f"Package providing the identity for "
               f"Fedora {variant}", "MIT", "https://fedoraproject.org/", version=FEDORA_VERSION,
               noarch=True, content=(("/usr/lib/os-release", text),),
               requires=(f"fedora-release-common = {FEDORA_VERSION}-{RELEASE}",),
               provides=(f"fedora-release-identity = {FEDORA_VERSION}-{RELEASE}",),
               conflicts=("fedora-release-identity",))

# arch-probe's %post runs the image's own busybox as sh (busybox runs the applet its name
# says): a scriptlet of the image's architecture, run through qemu-user in another
# architecture's image. The interpreter is in a bin directory: rpm >= 4.19 makes it a Requires,
# which dnf >= 4.19 resolves from primary.xml alone (no filelists), and primary lists only
# */bin/* and /etc files.
PROBE = Pkg(
    "arch-probe",
    "Fixture whose %post runs a binary of its architecture",
    "MIT",
    NOWHERE,
    version="1.0",
    links=(("/usr/libexec/arch-probe/bin/sh", "/usr/sbin/busybox"),),
    dirs=("/usr/share/arch-probe",),
    requires=("busybox",),
    requires_pre=("busybox",),
    post=(
        "/usr/libexec/arch-probe/bin/sh",
        "/usr/sbin/busybox uname -m > /usr/share/arch-probe/machine\n",
    ),
)

# As in Fedora: glibc Requires(pre) basesystem -> setup, filesystem; setup Requires
# system-release, which fedora-release-common provides, its os-release from an identity package.
PACKAGES = (
    Pkg("basesystem", "The skeleton package which defines a simple Fedora system", "MIT",
        "https://src.fedoraproject.org/rpms/basesystem", version="11", noarch=True,
        requires=("setup", "filesystem"), requires_pre=("setup", "filesystem")),
    Pkg("setup", "A set of system configuration and setup files", "LicenseRef-Fedora-Public-Domain",
        "https://pagure.io/setup/", version="2.14.5", noarch=True, content=SETUP_FILES,
        requires=("system-release",), attrs=(("/etc/shadow", "%attr(0000,root,root)"),)),
    Pkg("fedora-release-common", "Fedora release files", "MIT", "https://fedoraproject.org/",
        version=FEDORA_VERSION, noarch=True,
        content=(("/usr/lib/fedora-release", f"Fedora release {FEDORA_VERSION} (Forty)\n"),),
        links=(("/etc/os-release", "../usr/lib/os-release"),
               ("/etc/fedora-release", "../usr/lib/fedora-release"),
               ("/etc/redhat-release", "fedora-release"),
               ("/etc/system-release", "fedora-release")),
        requires=(f"fedora-release-identity = {FEDORA_VERSION}-{RELEASE}",),
        provides=("system-release", f"system-release({FEDORA_VERSION})", "fedora-release-common")),
    identity("basic", "Forty"),
    identity("container", "Container Image"),
    Pkg("filesystem", "The basic directory layout for a Linux system",
        "LicenseRef-Fedora-Public-Domain", "https://pagure.io/filesystem", version="3.18",
        make=make_filesystem, requires_pre=("setup",)),
    Pkg("glibc", "The GNU libc libraries", LIBC, GNU + "libc/", version_of="libc6",
        take=(("libc6", ("/usr/lib/*", "/usr/lib64/*", "/etc/ld.so.conf.d/*", "!*/gconv/*",
                         *DOCS)),),
        requires=("filesystem", "glibc-common", "glibc-langpack"), requires_pre=("basesystem",)),
    Pkg("glibc-common", "Common binaries and locale data for glibc", LIBC, GNU + "libc/",
        version_of="libc6", content=(("/etc/nsswitch.conf", NSSWITCH),), requires=("glibc",),
        recommends=("glibc-all-langpacks",),
        take=(("libc-bin", ("/etc/ld.so.conf", "/etc/ld.so.conf.d/libc.conf", "/usr/bin/getconf",
                            "/usr/bin/locale", "/usr/sbin/ldconfig", "*/man1/getconf.1.gz",
                            *DOCS)),)),
    Pkg("glibc-all-langpacks", "All language packs for glibc", LIBC, GNU + "libc/",
        version_of="libc6", make=make_all_langpacks, requires=("glibc",),
        provides=("glibc-langpack = {version}-" + RELEASE,)),
    Pkg("glibc-langpack-en", "English language pack for glibc", LIBC, GNU + "libc/",
        version_of="libc6", make=make_langpack_en, requires=("glibc",),
        provides=("glibc-langpack = {version}-" + RELEASE,)),
    Pkg("glibc-minimal-langpack", "Minimal language pack for glibc", LIBC, GNU + "libc/",
        version_of="libc6", take=(("libc-bin", ("/usr/lib/locale/C.utf8/*",)),),
        dirs=("/usr/lib/locale/C.utf8",), requires=("glibc",),
        provides=("glibc-langpack = {version}-" + RELEASE,)),
    Pkg("coreutils", "A set of basic GNU tools commonly used in shell scripts", "GPL-3.0-or-later",
        GNU + "coreutils/", version_of="coreutils", conflicts=("coreutils-single",),
        take=(("coreutils", ("/usr/bin/*", "/usr/sbin/*", "/usr/lib/*", "/usr/share/man/*",
                             *DOCS)),)),
    Pkg("coreutils-single", "coreutils multicall binary (busybox)", "GPL-3.0-or-later",
        GNU + "coreutils/", version_of="coreutils",
        take=(("busybox-static", ("/usr/bin/coreutils",)),),
        rename=(("/usr/bin/busybox", "/usr/bin/coreutils"),),
        links=tuple((f"/usr/bin/{name}", "coreutils") for name in SINGLE),
        provides=("coreutils = {version}-" + RELEASE,), conflicts=("coreutils",)),
    Pkg("bash", "The GNU Bourne Again shell", "GPL-3.0-or-later", GNU + "bash/", version_of="bash",
        take=(("bash", ("/usr/bin/bash", "/usr/bin/bashbug", "/usr/share/man/man1/bash*", *DOCS,
                        *(f"/usr/share/locale/{lang}/*" for lang in ("de", "fr", "es")))),),
        links=(("/usr/bin/sh", "bash"),), requires=("filesystem",),
        provides=("/bin/sh", "/bin/bash", "/usr/bin/sh", "/usr/bin/bash"),
        recommends=("bash-completion",)),
    Pkg("bash-completion", "Programmable completion for Bash", "GPL-2.0-or-later",
        "https://github.com/scop/bash-completion", version_of="bash-completion", noarch=True,
        take=(("bash-completion", ("/usr/share/bash-completion/*", "/etc/*", *DOCS)),),
        requires=("bash",)),
    Pkg("busybox", "Statically linked binary providing simplified versions of system commands",
        "GPL-2.0-only", "https://www.busybox.net/", version_of="busybox-static",
        rename=(("/usr/bin/busybox", "/usr/sbin/busybox"),),
        take=(("busybox-static", ("/usr/sbin/busybox", "*/man1/busybox.1.gz", *DOCS)),)),
    Pkg("nginx", "A high performance web server and reverse proxy server", "BSD-2-Clause", NGX,
        version_of="nginx-bin", content=(("/etc/nginx/nginx.conf", NGINX_CONF),),
        dirs=("/usr/lib/nginx/modules",), recommends=("nginx-docs", "logrotate"),
        requires=("nginx-filesystem = {version}-" + RELEASE, "coreutils"),
        take=(("nginx-bin", ("/usr/sbin/nginx", "*/man8/nginx.8.gz", *DOCS)),
              ("nginx-common", ("/etc/nginx/mime.types", "/etc/nginx/*_params",
                                "/etc/nginx/fastcgi.conf", "/usr/share/nginx/html/*")))),
    Pkg("nginx-filesystem", "The basic directory layout for the Nginx server", "BSD-2-Clause", NGX,
        version_of="nginx-bin", noarch=True, dirs=NGINX_DIRS, pre=NGINX_USER_PRE,
        requires_pre=("/bin/sh", "setup"),
        attrs=tuple((d, "%attr(0770,nginx,root)") for d in NGINX_DIRS if "/lib/nginx" in d)),
    Pkg("nginx-docs", "Documentation for nginx", "BSD-2-Clause", NGX, version_of="nginx-bin",
        noarch=True, make=make_nginx_docs, take=(("nginx-doc", DOCS),),
        rename=(("/usr/share/doc/nginx/", "/usr/share/doc/nginx-docs/"),), requires=("nginx",)),
    Pkg("logrotate", "Rotates and compresses system logs (configuration only)",
        "GPL-2.0-or-later", "https://github.com/logrotate/logrotate", version_of="logrotate",
        noarch=True, take=(("logrotate", ("/etc/logrotate.conf", "/etc/logrotate.d/*",
                                          "/usr/share/man/*", *DOCS)),)),
    Pkg("broken-scriptlet", "Fixture whose %pre scriptlet fails", "MIT", NOWHERE, version="1.0",
        noarch=True, content=(("/usr/share/broken-scriptlet/README", "%pre exits 1\n"),),
        requires_pre=("/bin/sh",), pre="exit 1\n"),
    PROBE,
    Pkg("needs-missing", "Fixture with an unsatisfiable dependency", "MIT", NOWHERE, version="1.0",
        noarch=True, content=(("/usr/share/needs-missing/README", "see Requires\n"),),
        requires=("does-not-exist-anywhere",)),
)
# fmt: on


# ------------------------------------------------------------------ staging and dependency closure


@dataclasses.dataclass
class Staged:
    pkg: Pkg
    root: Path  # the files of the rpm, as they will be installed
    version: str
    provides: set[str] = dataclasses.field(default_factory=set)
    needs: set[str] = dataclasses.field(default_factory=set)
    interps: set[str] = dataclasses.field(default_factory=set)


def final_path(rel: str, deb: str, pkg: Pkg) -> str:
    """Debian path -> path in the rpm: usrmerge, docs named after the rpm, copyright as license."""
    for old, new in USRMERGE.items():
        if rel == old or rel.startswith(old + "/"):
            rel = "/" + new + rel[len(old) :]
    if rel.startswith(docdir := f"/usr/share/doc/{deb}/"):
        tail = rel[len(docdir) :]
        top = "licenses" if tail == "copyright" else "doc"
        rel = f"/usr/share/{top}/{pkg.name}/{tail}"
    for old, new in pkg.rename:
        if rel == old or (old.endswith("/") and rel.startswith(old)):
            return new + rel[len(old) :]
    return rel


def wanted(path: str, globs: list[str]) -> bool:
    """fnmatch globs (`*` also matches `/`); a glob starting with `!` excludes."""
    if any(fnmatch.fnmatchcase(path, g[1:]) for g in globs if g.startswith("!")):
        return False
    return any(fnmatch.fnmatchcase(path, g) for g in globs if not g.startswith("!"))


def copy_deb_files(pkg: Pkg, ctx: Ctx, root: Path) -> None:
    for alias, globs in pkg.take:
        deb = ctx.aliases.get(alias, alias)
        src = ctx.extract(deb)
        patterns = [g.format(pkg=pkg.name) for g in globs]
        for dirpath, dirnames, filenames in os.walk(src):
            for name in filenames + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
                path = Path(dirpath, name)
                rel = final_path("/" + str(path.relative_to(src)), deb, pkg)
                if not wanted(rel, patterns):
                    continue
                (dest := root / rel.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
                if path.is_symlink():
                    dest.symlink_to(os.readlink(path))
                else:
                    shutil.copy2(path, dest)


def stage(pkg: Pkg, ctx: Ctx) -> Staged:
    (root := ctx.work / "stage" / pkg.name).mkdir(parents=True)
    copy_deb_files(pkg, ctx, root)
    for path, text in pkg.content:
        write(root, path, text)
    for path in pkg.dirs:
        (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for path, target in pkg.links:
        (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/")).symlink_to(target)
    if pkg.make:
        pkg.make(root, ctx)
    staged = Staged(pkg, root, pkg.version or ctx.version(pkg.version_of))
    scan_elves(staged)
    return staged


def scan_elves(staged: Staged) -> None:
    """The sonames a staged package provides and needs, and its binaries' ELF interpreters."""
    for file in staged.root.rglob("*"):
        if file.is_symlink() or not file.is_file() or (elf := read_elf(file)) is None:
            continue
        if elf.soname:
            staged.provides.add(soname_dep(elf.soname, elf.is64))
        staged.needs.update(soname_dep(n, elf.is64) for n in elf.needed)
        if elf.interp:
            staged.interps.add(elf.interp)
            staged.needs.add(soname_dep(posixpath.basename(elf.interp), elf.is64))


def owners(needers: dict[str, list[str]], ctx: Ctx) -> dict[str, str]:
    """soname -> Debian package shipping it: dpkg -S, else the Depends of the debs needing it."""
    libdirs = (f"/lib/{ctx.host.triplet}/", f"/usr/lib/{ctx.host.triplet}/")
    found: dict[str, str] = {}
    for line in run(["dpkg", "-S", *sorted(needers)], ok=(0, 1)).splitlines():
        pkgs, _, path = line.partition(": ")
        if (soname := posixpath.basename(path)) in needers and path.startswith(libdirs):
            found.setdefault(soname, pkgs.split(",")[0].split(":")[0].strip())
    for soname in sorted(needers.keys() - found.keys()):
        candidates = dict.fromkeys(d for n in needers[soname] for d in ctx.depends(n))
        for deb in [d for d in candidates if d.startswith(("lib", "zlib"))]:
            if any((ctx.extract(deb) / d.lstrip("/") / soname).exists() for d in libdirs):
                found[soname] = deb
                break
        else:
            users = ", ".join(needers[soname])
            raise FixtureError(f"no Debian package found that ships {soname} (needed by {users})")
    return found


def library_pkg(deb: str) -> Pkg:
    default = (f"{deb}-fixture", "LicenseRef-Debian-copyright", "https://www.debian.org/")
    name, lic, url = FEDORA_LIBS.get(deb.removesuffix("t64"), default)
    summary = f"Shared libraries from Debian's {deb}"
    return Pkg(name, summary, lic, url, version_of=deb, take=((deb, ("/usr/lib/*", *DOCS)),))


def close_libraries(staged: list[Staged], ctx: Ctx) -> None:
    """Add library packages until every needed soname is provided by some package."""
    while True:
        provided = set().union(*(s.provides for s in staged))
        needers: dict[str, list[str]] = {}
        for s in staged:
            for need in s.needs - provided:
                needers.setdefault(need.split("()")[0], []).extend(d for d, _ in s.pkg.take)
        if not needers:
            return
        by_deb: dict[str, list[str]] = {}
        for soname, deb in owners(needers, ctx).items():
            by_deb.setdefault(deb, []).append(soname)
        ctx.fetch(sorted(by_deb))
        for deb, sonames in sorted(by_deb.items()):
            if any(ctx.aliases.get(d, d) == deb for s in staged for d, _ in s.pkg.take):
                raise FixtureError(f"{deb} is packaged already but not its {', '.join(sonames)}")
            say(f"{', '.join(sonames)}: Debian {deb} -> {library_pkg(deb).name}")
            staged.append(stage(library_pkg(deb), ctx))


def check_interpreters(staged: list[Staged]) -> None:
    glibc = next(s for s in staged if s.pkg.name == "glibc")
    for s in staged:
        for interp in s.interps:
            shipped = glibc.root / final_path(interp, "", glibc.pkg).lstrip("/")
            if not (shipped.exists() or shipped.is_symlink()):
                raise FixtureError(f"{s.pkg.name}: its ELF interpreter {interp} is not in glibc")


# ------------------------------------------------------------------ spec rendering and building


def files_section(staged: Staged, fs_owned: set[str]) -> list[str]:
    attrs = dict(staged.pkg.attrs)
    lines = ["%files", "%defattr(-,root,root,-)"]
    for path in sorted(staged.root.rglob("*")):
        rel = "/" + str(path.relative_to(staged.root))
        is_dir = path.is_dir() and not path.is_symlink()
        if is_dir and rel in fs_owned and staged.pkg.name != "filesystem":
            continue
        marks = [attrs.get(rel, "")]
        if rel.startswith("/usr/share/locale/") and len(parts := rel.split("/")) > 4:
            marks.append(f"%lang({parts[4]})")
        if is_dir:
            marks.append("%dir")
        elif rel.startswith(("/usr/share/doc/", "/usr/share/man/")):
            marks.append("%doc")
        elif rel.startswith("/usr/share/licenses/"):
            marks.append("%license")
        elif rel.startswith("/etc/") and not path.is_symlink():
            marks.append("%config(noreplace)")
        # Quoted, rpm takes coreutils' lone "[" literally; "%" must still be doubled.
        lines.append(" ".join([*filter(None, marks), '"' + rel.replace("%", "%%") + '"']))
    return lines


def render_spec(staged: Staged, host: Host, fs_owned: set[str]) -> str:
    pkg, version = staged.pkg, staged.version
    lines = [
        "%global debug_package %{nil}",
        "%global __os_install_post %{nil}",
        "%global __arch_install_post %{nil}",
        "%global _build_id_links none",
        "%global _binary_payload w3.zstdio",
        f"Name: {pkg.name}",
        f"Version: {version}",
        f"Release: {RELEASE}",
        f"Summary: {pkg.summary}",
        f"License: {pkg.license}",
        f"URL: {pkg.url}",
        "Vendor: Fedora Project",
        "Packager: Fedora Project",
        "AutoReqProv: no",
    ]
    # another architecture's package comes from rpmbuild --target alone: rpmbuild refuses a
    # BuildArch the build host cannot build for ("No compatible architectures found")
    if pkg.noarch or host.arch == os.uname().machine:
        lines.append(f"BuildArch: {'noarch' if pkg.noarch else host.arch}")
    deps = {
        "Requires": [*pkg.requires, *sorted(staged.needs - staged.provides)],
        "Requires(pre)": pkg.requires_pre,
        "Provides": [*pkg.provides, *sorted(staged.provides)],
        "Recommends": pkg.recommends,
        "Conflicts": pkg.conflicts,
    }
    lines += [f"{tag}: {v.format(version=version)}" for tag, vs in deps.items() for v in vs]
    lines += ["", "%description", f"{pkg.summary}; built from Debian binaries for buildahpy tests."]
    lines += ["", "%install", f"cp -a {shlex.quote(str(staged.root))}/. %{{buildroot}}/", ""]
    if pkg.pre:
        lines += ["%pre", pkg.pre.rstrip("\n"), ""]
    if pkg.post:
        lines += [f"%post -p {pkg.post[0]}", pkg.post[1].rstrip("\n"), ""]
    return "\n".join(lines + files_section(staged, fs_owned)) + "\n"


def rpmbuild(staged: Staged, ctx: Ctx, fs_owned: set[str]) -> Path:
    name, arch = staged.pkg.name, "noarch" if staged.pkg.noarch else ctx.host.arch
    target = ["--target", arch] if arch != os.uname().machine and arch != "noarch" else []
    (top := ctx.work / "rpmbuild" / name).mkdir(parents=True)
    (spec := top / f"{name}.spec").write_text(render_spec(staged, ctx.host, fs_owned))
    run(
        [
            "rpmbuild",
            "-bb",
            "--quiet",
            "--define",
            f"_topdir {top}",
            "--define",
            f"_rpmdir {ctx.work / 'rpms'}",
            "--define",
            "_buildhost buildahpy-fixture",
            *target,
            str(spec),
        ],
        home=top,
    )
    return ctx.work / "rpms" / arch / f"{name}-{staged.version}-{RELEASE}.{arch}.rpm"


def resolve_nginx(ctx: Ctx) -> None:
    """Debian 12 moved /usr/sbin/nginx from nginx-core to nginx in a point release; 13 has nginx."""
    for candidate in ("nginx", "nginx-core", "nginx-light", "nginx-full"):
        ctx.fetch([candidate])
        if "./usr/sbin/nginx" in run(["dpkg-deb", "-c", str(ctx.deb_file(candidate))]).split():
            ctx.aliases["nginx-bin"] = candidate
            return
    raise FixtureError("no Debian package with /usr/sbin/nginx (tried nginx, nginx-core, ...)")


def publish(outdir: Path, rpms: list[Path]) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / ".stamp").unlink(missing_ok=True)
    for old in ("Packages", "repodata"):
        shutil.rmtree(outdir / old, ignore_errors=True)
    (outdir / "Packages").mkdir()
    for rpm in rpms:
        shutil.move(rpm, outdir / "Packages" / rpm.name)
    say("createrepo_c")
    run(["createrepo_c", "--quiet", "--no-database", str(outdir)])


def write_repo_file(outdir: Path) -> None:
    (outdir / "fixture.repo").write_text(
        f"[fixture]\nname=buildahpy fixture\nbaseurl=file://{outdir}\nenabled=1\ngpgcheck=0\n"
        "metadata_expire=never\n"
    )


def build_repo(outdir: Path, deb_cache: Path | None = None) -> Path:
    """Build (or reuse, see .stamp) the repository in `outdir`; return `outdir` resolved."""
    outdir = outdir.resolve()
    host = detect_host()
    stamp = hashlib.sha256(Path(__file__).read_bytes() + host.arch.encode()).hexdigest()
    stamp_file = outdir / ".stamp"
    if stamp_file.is_file() and stamp_file.read_text() == stamp and (outdir / "repodata").is_dir():
        write_repo_file(outdir)
        return outdir
    cache = (deb_cache or outdir.parent / "debs-cache").resolve()
    cache.mkdir(parents=True, exist_ok=True)
    os.umask(0o022)  # directories shared between packages must have equal modes
    with tempfile.TemporaryDirectory(prefix="fixture-repo-") as tmp:
        ctx = Ctx(host, cache, Path(tmp))
        ctx.fetch(BASE_DEBS)
        resolve_nginx(ctx)
        say("staging packages")
        staged = [stage(pkg, ctx) for pkg in PACKAGES]
        close_libraries(staged, ctx)
        check_interpreters(staged)
        say(f"building {len(staged)} rpms")
        for arch in (host.arch, "noarch"):  # parallel rpmbuilds race to create these
            (ctx.work / "rpms" / arch).mkdir(parents=True)
        fs_owned = set(fs_dirs(host))
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            rpms = list(pool.map(lambda s: rpmbuild(s, ctx, fs_owned), staged))
        publish(outdir, rpms)
    write_repo_file(outdir)
    stamp_file.write_text(stamp)
    return outdir


# Another architecture's repository (--foreign aarch64): its arch-specific packages only, from
# Debian's packages of that architecture; the noarch ones come from the host's repository,
# given beside it. arch-probe's %post runs a binary of that architecture (busybox, as sh).
FOREIGN = {"aarch64": ("arm64", "aarch64-linux-gnu")}
FOREIGN_PACKAGES = (
    "filesystem",
    "glibc",
    "glibc-common",
    "glibc-minimal-langpack",
    "busybox",
    "arch-probe",
)


def foreign_debs(deb_arch: str) -> None:
    """Debian's packages of ``deb_arch`` become downloadable: dpkg --add-architecture, and an
    update of the package lists (under /tmp/apt.lock: never two apt-gets at once)."""
    if deb_arch in run(["dpkg", "--print-foreign-architectures"]).split():
        return
    say(f"dpkg --add-architecture {deb_arch}; apt-get update")
    run(["flock", "/tmp/apt.lock", "dpkg", "--add-architecture", deb_arch])
    run(["flock", "/tmp/apt.lock", "apt-get", "-q", "update"])


def build_foreign_repo(outdir: Path, arch: str, deb_cache: Path | None = None) -> Path:
    """The repository of ``arch``'s packages in ``outdir`` (its .repo file: fixture-ARCH.repo)."""
    outdir = outdir.resolve()
    deb_arch, triplet = FOREIGN[arch]
    stamp = hashlib.sha256(Path(__file__).read_bytes() + arch.encode()).hexdigest()
    stamp_file = outdir / ".stamp"
    repo_text = (
        f"[fixture-{arch}]\nname=buildahpy fixture {arch}\nbaseurl=file://{outdir}\nenabled=1\n"
        "gpgcheck=0\nmetadata_expire=never\n"
    )
    if not (stamp_file.is_file() and stamp_file.read_text() == stamp):
        foreign_debs(deb_arch)
        cache = (deb_cache or outdir.parent / f"debs-cache-{deb_arch}").resolve()
        cache.mkdir(parents=True, exist_ok=True)
        os.umask(0o022)
        with tempfile.TemporaryDirectory(prefix="fixture-repo-") as tmp:
            host = Host(arch, triplet)
            ctx = Ctx(host, cache, Path(tmp), deb_arch=f":{deb_arch}")
            ctx.fetch(["libc6", "libc-bin", "busybox-static"])
            chosen = [pkg for pkg in PACKAGES if pkg.name in FOREIGN_PACKAGES]
            staged = [stage(pkg, ctx) for pkg in chosen]
            close_libraries(staged, ctx)
            check_interpreters(staged)
            say(f"building {len(staged)} {arch} rpms")
            for each in (arch, "noarch"):
                (ctx.work / "rpms" / each).mkdir(parents=True)
            rpms = [rpmbuild(one, ctx, set(fs_dirs(host))) for one in staged]
            publish(outdir, rpms)
        stamp_file.write_text(stamp)
    (outdir / f"fixture-{arch}.repo").write_text(repo_text)
    return outdir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--deb-cache", type=Path, help=".deb cache (default OUTDIR/../debs-cache)")
    parser.add_argument("--foreign", choices=sorted(FOREIGN), help="another architecture's repo")
    args = parser.parse_args(argv)
    try:
        if args.foreign:
            out = build_foreign_repo(args.outdir, args.foreign, args.deb_cache)
        else:
            out = build_repo(args.outdir, args.deb_cache)
    except (FixtureError, OSError, subprocess.CalledProcessError) as exc:
        print(f"fixture_repo: error: {exc}", file=sys.stderr)
        return 1
    say(f"repository ready: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
