#!/usr/bin/env python3
"""A repository of Fedora's size: the fixture's real packages plus generated metadata-only ones.

Usage: python3 scripts/scale_repo.py FIXTURE_DIR OUT_ROOT [--packages 75000]; or
build_scale_repo(fixture, out_root). Leaves OUT_ROOT/scale-<key>/ with Packages (a link to the
fixture's), repodata/ (primary, filelists and other XML, gzip, and a repomd.xml with their
checksums) and scale.repo (repo id "fixture", as the fixture's, so recipes read the same).

The generated entries are written as XML directly, never as rpms: they are never installed. They
have Fedora-like names (python3-*, perl-*, rust-*-devel, golang-github-*, texlive-*, lib*),
sonames, pkgconfig()/python3dist()/perl() provides, a dependency graph (each package requires a
few earlier ones, so no cycles, plus glibc's sonames and some file paths only filelists list, so
libsolv has file provides to add), file lists of about 90 entries (Fedora 41 has ~6.5 M files in
75 k packages) and a changelog. None provides anything the fixture's packages need under a name
those use, so a transaction of fixture packages resolves as it does against the fixture alone;
the metadata only has to be downloaded, parsed and searched, as Fedora's is.

The repository is kept between runs, keyed by its parameters, this file and the fixture's
repomd.xml (the fixture is rebuilt from each host's own binaries).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import random
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_SYLLABLES = (
    "ab ac ad al am an ar as at ba be bi bo bu ca ce ci co cu da de di do du el em en er es "
    "fa fe fi fo fu ga ge gi go gu ha he hi ho hu id il im in io ir is ja jo ka ke ki ko la "
    "le li lo lu ma me mi mo mu na ne ni no nu ob od ol om on or os pa pe pi po pu ra re ri "
    "ro ru sa se si so su ta te ti to tu ul um un ur us va ve vi vo xa xe ya yo za ze zo"
)
SYLLABLES = _SYLLABLES.split()
FAMILIES = (
    ("python3-", 0.14, "python"),
    ("perl-", 0.05, "perl"),
    ("rust-", 0.12, "rust"),
    ("golang-github-", 0.09, "go"),
    ("texlive-", 0.06, "tex"),
    ("ghc-", 0.03, "ghc"),
    ("nodejs-", 0.03, "node"),
    ("php-", 0.02, "php"),
    ("R-", 0.02, "r"),
    ("mingw64-", 0.02, "mingw"),
    ("lib", 0.16, "lib"),
    ("", 0.26, "app"),
)
SUFFIXES = ("", "", "", "-devel", "-devel", "-libs", "-doc", "-common", "-tools", "-data")
_WORDS = (
    "library for parsing and generating data with support for streaming network protocols "
    "command line tool that manages configuration files bindings module implementation "
    "fast lightweight portable extensible framework plugin utilities development headers "
    "documentation for the package providing runtime files shared objects and examples"
)
WORDS = _WORDS.split()


def _name(rng: random.Random) -> tuple[str, str]:
    prefixes, weights = [f[0] for f in FAMILIES], [f[1] for f in FAMILIES]
    index = rng.choices(range(len(FAMILIES)), weights)[0]
    stem = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
    if rng.random() < 0.3:
        stem += "-" + "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
    return prefixes[index] + stem + rng.choice(SUFFIXES), FAMILIES[index][2]


def _provides(name: str, family: str, stem: str, rng: random.Random) -> list[str]:
    extra = {
        "python": f"python3dist({stem})",
        "perl": f"perl({stem.title().replace('-', '::')})",
        "rust": f"crate({stem}/default)",
        "go": f"golang(github.com/{stem.replace('-', '/')})",
        "tex": f"tex({stem}.sty)",
        "lib": f"lib{stem}.so.{rng.randint(0, 9)}()(64bit)",
        "node": f"npm({stem})",
    }.get(family)
    found = [extra] if extra else []
    if name.endswith("-devel"):
        found.append(f"pkgconfig({stem})")
    return found


def _files(name: str, family: str, stem: str, rng: random.Random) -> list[str]:
    count = max(1, int(rng.lognormvariate(3.7, 1.1)))
    base = {
        "python": f"/usr/lib/python3.13/site-packages/{stem.replace('-', '_')}",
        "perl": f"/usr/share/perl5/vendor_perl/{stem.title().replace('-', '/')}",
        "rust": f"/usr/share/cargo/registry/{stem}-{rng.randint(0, 3)}.{rng.randint(0, 20)}.0",
        "go": f"/usr/share/gocode/src/github.com/{stem.replace('-', '/')}",
        "tex": f"/usr/share/texlive/texmf-dist/tex/latex/{stem}",
        "ghc": f"/usr/lib64/ghc-9.6/lib/{stem}",
        "node": f"/usr/lib/node_modules/{stem}",
        "mingw": f"/usr/x86_64-w64-mingw32/sys-root/mingw/share/{stem}",
    }.get(family, f"/usr/share/{stem}")
    files = []
    if family == "app" and not name.endswith(("-doc", "-devel")):
        files += [f"/usr/bin/{stem}"] + ([f"/etc/{stem}.conf"] if rng.random() < 0.3 else [])
    if family == "lib":
        files.append(f"/usr/lib64/lib{stem}.so.{rng.randint(0, 9)}")
    subdirs = ["", "/src", "/tests", "/data", "/doc", "/lib", "/include"]
    for index in range(count):
        leaf = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4)))
        ext = rng.choice((".py", ".pyc", ".rs", ".go", ".h", ".pm", ".sty", ".txt", ".json", ""))
        files.append(f"{base}{rng.choice(subdirs)}/{leaf}{index}{ext}")
    files.append(f"/usr/share/licenses/{name}/LICENSE")
    return files


def _in_primary(path: str) -> bool:
    """createrepo_c's rule: /etc/*, *bin/* and /usr/lib/sendmail go into primary.xml too."""
    return path.startswith("/etc/") or "bin/" in path or path == "/usr/lib/sendmail"


def _entries(tag: str, names: list[str]) -> str:
    if not names:
        return ""
    body = "".join(f'      <rpm:entry name="{n}"/>\n' for n in names)
    return f"    <rpm:{tag}>\n{body}    </rpm:{tag}>\n"


class _Sink:
    """One gzip'd XML file being written, with both its checksums."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.raw = path.open("wb")
        self.gz: IO[bytes] = gzip.GzipFile(fileobj=self.raw, mode="wb", compresslevel=6, mtime=0)
        self.open_sha = hashlib.sha256()
        self.open_size = 0

    def write(self, text: str) -> None:
        data = text.encode()
        self.open_sha.update(data)
        self.open_size += len(data)
        self.gz.write(data)

    def close(self) -> None:
        self.gz.close()
        self.raw.close()


def _decompress(path: Path) -> bytes:
    """createrepo_c >= 1.0 (Debian 13, sid) writes zstd, older ones gzip."""
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes())
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python >= 3.14

        return bytes(zstd.decompress(path.read_bytes()))
    except ImportError:
        return subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout


def _fixture_blocks(fixture: Path, kind: str) -> list[str]:
    (found,) = (fixture / "repodata").glob(f"*-{kind}.xml.*")
    text = _decompress(found).decode()
    return re.findall(r"<package[ >].*?</package>\n", text, re.S)


def _generated(count: int, seed: int, taken: set[str]) -> Iterator[tuple[str, str, str]]:
    """(primary, filelists, other) XML blocks of ``count`` generated packages."""
    rng = random.Random(seed)
    provided: list[str] = []
    file_deps: list[str] = []
    names = set(taken)
    epoch = 1_730_000_000
    for _ in range(count):
        name, family = _name(rng)
        while name in names:
            name, family = _name(rng)
        names.add(name)
        stem = re.sub(
            r"^(python3-|perl-|rust-|golang-github-|texlive-|ghc-|nodejs-|php-|R-|"
            r"mingw64-|lib)",
            "",
            name,
        )
        arch = "noarch" if family in ("python", "perl", "tex", "node", "go") else "x86_64"
        ver, rel = f"{rng.randint(0, 12)}.{rng.randint(0, 40)}.{rng.randint(0, 9)}", "1.fc41"
        pkgid = f"{rng.getrandbits(256):064x}"
        provides = [name, *(f"{name}(x86-64)" for _ in [1] if arch != "noarch")]
        provides += _provides(name, family, stem, rng)
        requires = rng.sample(provided, min(len(provided), rng.randint(1, 7)))
        if arch != "noarch":
            requires.append("libc.so.6()(64bit)")
        if rng.random() < 0.15:
            requires.append("/bin/sh")
        if file_deps and rng.random() < 0.05:
            requires.append(rng.choice(file_deps))
        files = _files(name, family, stem, rng)
        if rng.random() < 0.05:
            file_deps.append(rng.choice(files))  # a file later packages require by path
        provided += [p for p in provides if not p.endswith("(x86-64)")]
        summary = " ".join(rng.choices(WORDS, k=rng.randint(4, 9)))
        description = " ".join(rng.choices(WORDS, k=rng.randint(20, 80)))
        size = rng.randint(5_000, 5_000_000)
        version = f'<version epoch="0" ver="{ver}" rel="{rel}"/>'
        listed = "".join(f"    <file>{f}</file>\n" for f in files if _in_primary(f))
        primary = (
            f'<package type="rpm">\n  <name>{name}</name>\n  <arch>{arch}</arch>\n  {version}\n'
            f'  <checksum type="sha256" pkgid="YES">{pkgid}</checksum>\n'
            f"  <summary>{summary}</summary>\n  <description>{description}</description>\n"
            f"  <packager>Fedora Project</packager>\n  <url>https://example.org/{stem}</url>\n"
            f'  <time file="{epoch}" build="{epoch}"/>\n'
            f'  <size package="{size}" installed="{size * 3}" archive="{size * 3 + 1024}"/>\n'
            f'  <location href="Packages/{name[0].lower()}/{name}-{ver}-{rel}.{arch}.rpm"/>\n'
            f"  <format>\n    <rpm:license>MIT</rpm:license>\n"
            f"    <rpm:vendor>Fedora Project</rpm:vendor>\n    <rpm:group>Unspecified</rpm:group>\n"
            f"    <rpm:buildhost>buildvm-{rng.randint(1, 40)}.fedoraproject.org</rpm:buildhost>\n"
            f"    <rpm:sourcerpm>{name}-{ver}-{rel}.src.rpm</rpm:sourcerpm>\n"
            f'    <rpm:header-range start="4504" end="{4504 + rng.randint(2000, 90000)}"/>\n'
            f"{_entries('provides', provides)}{_entries('requires', requires)}{listed}"
            f"  </format>\n</package>\n"
        )
        head = f'<package pkgid="{pkgid}" name="{name}" arch="{arch}">\n  {version}\n'
        filelists = head + "".join(f"  <file>{f}</file>\n" for f in files) + "</package>\n"
        changes = "".join(
            f'  <changelog author="Packager &lt;p@fedoraproject.org&gt; - {ver}-{index}" '
            f'date="{epoch - index * 86400 * 30}">- {" ".join(rng.choices(WORDS, k=8))}'
            f"</changelog>\n"
            for index in range(rng.randint(1, 4))
        )
        yield primary, filelists, head + changes + "</package>\n"


NAMESPACES = {
    "primary": (
        "metadata",
        'xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm"',
    ),
    "filelists": ("filelists", 'xmlns="http://linux.duke.edu/metadata/filelists"'),
    "other": ("otherdata", 'xmlns="http://linux.duke.edu/metadata/other"'),
}


def _repomd(sinks: dict[str, _Sink], revision: int) -> str:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<repomd xmlns="http://linux.duke.edu/metadata/repo" '
        'xmlns:rpm="http://linux.duke.edu/metadata/rpm">\n'
        f"  <revision>{revision}</revision>\n"
    ]
    for kind, sink in sinks.items():
        parts.append(
            f'  <data type="{kind}">\n'
            f'    <checksum type="sha256">{hashlib.sha256(sink.path.read_bytes()).hexdigest()}'
            f"</checksum>\n"
            f'    <open-checksum type="sha256">{sink.open_sha.hexdigest()}</open-checksum>\n'
            f'    <location href="repodata/{sink.path.name}"/>\n'
            f"    <timestamp>{revision}</timestamp>\n"
            f"    <size>{sink.path.stat().st_size}</size>\n"
            f"    <open-size>{sink.open_size}</open-size>\n  </data>\n"
        )
    return "".join(parts) + "</repomd>\n"


def _write(staging: Path, fixture: Path, packages: int, seed: int) -> None:
    repodata = staging / "repodata"
    repodata.mkdir(parents=True)
    os.symlink((fixture / "Packages").resolve(), staging / "Packages")
    real = {kind: _fixture_blocks(fixture, kind) for kind in NAMESPACES}
    taken = {re.search(r"<name>(.*?)</name>", b)[1] for b in real["primary"]}  # type: ignore[index]
    total = len(real["primary"]) + packages
    sinks = {kind: _Sink(repodata / f"{kind}.xml.gz") for kind in NAMESPACES}
    for kind, (tag, xmlns) in NAMESPACES.items():
        sinks[kind].write(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<{tag} {xmlns} packages="{total}">\n'
        )
        for block in real[kind]:
            sinks[kind].write(block)
    for blocks in _generated(packages, seed, taken):
        for sink, block in zip(sinks.values(), blocks, strict=True):
            sink.write(block)
    for kind, (tag, _) in NAMESPACES.items():
        sinks[kind].write(f"</{tag}>\n")
        sinks[kind].close()
    for kind, sink in sinks.items():  # createrepo_c's names: <sha256>-<kind>.xml.gz
        digest = hashlib.sha256(sink.path.read_bytes()).hexdigest()
        sink.path = sink.path.rename(repodata / f"{digest}-{kind}.xml.gz")
    (repodata / "repomd.xml").write_text(_repomd(sinks, int(time.time())))


def repo_key(fixture: Path, packages: int, seed: int) -> str:
    text = [str(packages), str(seed), Path(__file__).read_text()]
    text.append((fixture / "repodata" / "repomd.xml").read_text())
    return hashlib.sha256("\0".join(text).encode()).hexdigest()[:12]


def build_scale_repo(fixture: Path, out_root: Path, packages: int = 75_000, seed: int = 41) -> Path:
    """The repository's directory, generated unless a copy for these parameters exists."""
    out = out_root / f"scale-{repo_key(fixture, packages, seed)}"
    if (out / "repodata" / "repomd.xml").exists():
        return out
    out_root.mkdir(parents=True, exist_ok=True)
    staging = out_root / f".{out.name}.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write(staging, fixture, packages, seed)
        repo_file = (fixture / "fixture.repo").read_text()
        repo_file = re.sub(r"(?m)^baseurl=.*$", f"baseurl=file://{out}", repo_file)
        (staging / "scale.repo").write_text(repo_file)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for old in out_root.glob("scale-*"):  # one kept per parameter set: drop other fixtures'
        if old != out and old.stat().st_mtime < time.time() - 7 * 86400:
            shutil.rmtree(old, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixture", type=Path)
    parser.add_argument("out_root", type=Path)
    parser.add_argument("--packages", type=int, default=75_000)
    parser.add_argument("--seed", type=int, default=41)
    args = parser.parse_args()
    started = time.monotonic()
    out = build_scale_repo(args.fixture, args.out_root, args.packages, args.seed)
    sizes = {p.name.split("-")[-1]: p.stat().st_size for p in (out / "repodata").glob("*.gz")}
    megabytes = {k: f"{v / 1e6:.1f} MB" for k, v in sizes.items()}
    print(out, megabytes, f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
