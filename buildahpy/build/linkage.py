"""Would the dynamic loader find every library? DT_NEEDED of each ELF file against the image.

One walk over the image (fd by fd, see RootFS.regular_files) opens each regular file once and
reads its first bytes; ELF executables and shared objects then have their headers read
(elf.py). Each DT_NEEDED soname is looked up where ld.so looks for that object: its DT_RPATH
(only without DT_RUNPATH), LD_LIBRARY_PATH from the image's config, its DT_RUNPATH (``$ORIGIN``,
``$LIB`` and ``$PLATFORM`` expanded), the directories of the image's /etc/ld.so.conf and its
includes (what ldconfig puts in ld.so.cache), and the built-in directories: /lib64, /usr/lib64,
/lib, /usr/lib and Debian's multiarch /lib/<triplet>, /usr/lib/<triplet>. A candidate counts
when it is an ELF file of the requester's class, byte order and machine (ld.so skips others).

Executables (ELF files with a PT_INTERP) are held to that search path. A shared library is
also let pass when the library it needs is somewhere else in the image (by file name or
DT_SONAME, same architecture): ld.so matches a needed name against the objects already loaded,
and a program often loads such a dependency first, from a private directory or through its own
DT_RPATH (a JDK's launcher loads lib/server/libjvm.so, which lib/libjava.so then needs; systemd's
libsystemd-core needs libsystemd-shared from the same private directory). A library missing from
the image altogether is reported either way. Starts no process; every path is opened inside the
rootfs.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from collections.abc import Iterable

import attrs

from buildahpy.build.elf import Elf, ElfError, read_elf
from buildahpy.host.rootfs import RootFS

DEFAULT_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib")
# Debian-built loaders also search their multiarch directories by default; (bits, big endian,
# e_machine) -> triplet
MULTIARCH = {
    (64, False, 62): "x86_64-linux-gnu",
    (32, False, 3): "i386-linux-gnu",
    (64, False, 183): "aarch64-linux-gnu",
    (32, False, 40): "arm-linux-gnueabihf",
    (64, False, 21): "powerpc64le-linux-gnu",
    (64, True, 22): "s390x-linux-gnu",
    (64, False, 243): "riscv64-linux-gnu",
}
PLATFORM = {62: "x86_64", 3: "i686", 183: "aarch64", 40: "armv7l", 21: "ppc64le", 22: "s390x"}
SKIP = ("/usr/lib/debug", "/proc", "/sys", "/dev")  # separate debug info: headers, no data
_INCLUDE_DEPTH = 8
_NOT_ELF = (0, False, 0)


@attrs.frozen
class Missing:
    file: str
    library: str  # a soname, or the path of the ELF interpreter
    search: tuple[str, ...] = ()  # where it was looked for (empty: an interpreter's path)
    elsewhere: str = ""  # a file of that name for another architecture, if one was seen

    def __str__(self) -> str:
        if not self.search:
            return (
                f"{self.file} needs its ELF interpreter {self.library}, which is not in the image"
            )
        text = f"{self.file} needs {self.library}, which is not in the image"
        if self.elsewhere:
            text += f" for its architecture ({self.elsewhere} is built for another)"
        return f"{text} (search path: {':'.join(self.search)})"


@attrs.frozen
class Linkage:
    files: int  # regular files looked at
    elves: int  # ELF executables and shared objects
    needing: int  # of which ask for libraries or an interpreter
    missing: tuple[Missing, ...]
    loaded_first: tuple[Missing, ...] = ()  # a library's needs found only elsewhere in the image


def ld_so_conf(root: RootFS, path: str = "/etc/ld.so.conf", depth: int = 0) -> list[str]:
    """The library directories an ld.so.conf names, includes (globs) followed in order."""
    text = _read_text(root, path)
    dirs: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("include") and line[7:8].isspace():
            if depth >= _INCLUDE_DEPTH:
                continue
            for pattern in line[7:].split():
                full = posixpath.join(posixpath.dirname(path), pattern)
                for conf in glob(root, full):
                    dirs += ld_so_conf(root, conf, depth + 1)
        elif line and not line.startswith("hwcap"):
            # entries split on blanks, ':' or ','; libc5's "dir=TYPE" keeps the dir
            dirs += [d.split("=")[0] for d in re.split(r"[\s:,]+", line) if d.startswith("/")]
    return list(dict.fromkeys(dirs))


def glob(root: RootFS, pattern: str) -> list[str]:
    """Paths inside the image matching a shell pattern, sorted as glob(3) sorts them."""
    found = ["/"]
    for part in [p for p in pattern.split("/") if p]:
        if not any(c in part for c in "*?["):
            found = [posixpath.join(d, part) for d in found]
            continue
        found = [
            posixpath.join(d, name)
            for d in found
            for name in sorted(root.listdir(d))
            if fnmatch.fnmatchcase(name, part) and not (name.startswith(".") and part[0] != ".")
        ]
    return [path for path in found if root.stat(path) is not None]


def _read_text(root: RootFS, path: str, limit: int = 1 << 20) -> str:
    fd = root.open_regular(path)
    if fd is None:
        return ""
    try:
        return os.pread(fd, limit, 0).decode("utf-8", "replace")
    finally:
        os.close(fd)


class Finder:
    """Looks sonames up in the image; remembers what each path holds."""

    def __init__(self, root: RootFS, conf_dirs: Iterable[str], ld_library_path: str = "") -> None:
        self.root = root
        self.conf_dirs = tuple(conf_dirs)
        self.env_dirs = tuple(d for d in ld_library_path.split(":") if d.startswith("/"))
        self._abi: dict[str, tuple[int, bool, int]] = {}

    def abi_at(self, path: str) -> tuple[int, bool, int]:
        """(bits, big endian, machine) of the ELF file at ``path``; (0, False, 0) for none."""
        if path not in self._abi:
            self._abi[path] = _NOT_ELF
            fd = self.root.open_regular(path)
            if fd is not None:
                try:
                    found = read_elf(fd)
                    self._abi[path] = found.abi if found else _NOT_ELF
                except (ElfError, OSError):
                    pass
                finally:
                    os.close(fd)
        return self._abi[path]

    def search_path(self, elf: Elf, origin: str) -> tuple[str, ...]:
        own = elf.runpath or ()
        dirs = [*(() if elf.runpath else elf.rpath), *self.env_dirs, *own, *self.conf_dirs]
        triplet = MULTIARCH.get(elf.abi)
        dirs += [*(f"{p}/{triplet}" for p in ("/lib", "/usr/lib") if triplet), *DEFAULT_DIRS]
        expanded = [x for d in dirs for x in _expand(d, elf, origin)]
        return tuple(dict.fromkeys(posixpath.normpath(d) for d in expanded))

    def missing(self, path: str, elf: Elf) -> list[Missing]:
        found: list[Missing] = []
        if elf.interp and self.abi_at(elf.interp) != elf.abi:
            found.append(Missing(path, elf.interp))
        search: tuple[str, ...] | None = None
        for soname in elf.needed:
            if "/" in soname:  # a path, not a name; relative ones depend on the cwd
                if soname.startswith("/") and self.abi_at(soname) != elf.abi:
                    found.append(Missing(path, soname, (posixpath.dirname(soname),)))
                continue
            search = search or self.search_path(elf, posixpath.dirname(path))
            abis = {d: self.abi_at(f"{d}/{soname}") for d in search}
            if elf.abi not in abis.values():
                other = next((f"{d}/{soname}" for d, abi in abis.items() if abi != _NOT_ELF), "")
                found.append(Missing(path, soname, search, other))
        return found


def _expand(entry: str, elf: Elf, origin: str) -> list[str]:
    """ld.so's dynamic string tokens; a relative entry is taken from / (the default cwd)."""
    text = re.sub(r"\$(ORIGIN|\{ORIGIN\})", origin, entry)
    platform = PLATFORM.get(elf.machine, "")
    text = re.sub(r"\$(PLATFORM|\{PLATFORM\})", platform, text)
    triplet = MULTIARCH.get(elf.abi)
    libs = ["lib64" if elf.bits == 64 else "lib", *([f"lib/{triplet}"] if triplet else [])]
    texts = [re.sub(r"\$(LIB|\{LIB\})", lib, text) for lib in libs] if "$" in text else [text]
    return [t if t.startswith("/") else "/" + t for t in texts]


def check_tree(root: RootFS, ld_library_path: str = "") -> Linkage:
    """Walk the image once and report every ELF file whose libraries ld.so would not find."""
    finder = Finder(root, ld_so_conf(root), ld_library_path)
    files = elves = needing = 0
    missing: list[Missing] = []
    present: set[tuple[str, tuple[int, bool, int]]] = set()  # (file name or soname, abi)
    libraries: list[tuple[Missing, tuple[int, bool, int]]] = []  # misses of shared libraries
    for directory, dir_fd, name in root.regular_files(SKIP):
        files += 1
        elf = _read_at(dir_fd, name)
        if elf is None or not elf.loadable:
            continue
        elves += 1
        present.update({(name, elf.abi), (elf.soname, elf.abi)})
        if elf.needed or elf.interp:
            needing += 1
            for miss in finder.missing(posixpath.join(directory, name), elf):
                if elf.interp or not miss.search:
                    missing.append(miss)
                else:
                    libraries.append((miss, elf.abi))
    loaded_first = [miss for miss, abi in libraries if (miss.library, abi) in present]
    missing += [miss for miss, abi in libraries if (miss.library, abi) not in present]
    return Linkage(
        files, elves, needing, tuple(sorted(missing, key=lambda m: m.file)), tuple(loaded_first)
    )


def _read_at(dir_fd: int, name: str) -> Elf | None:
    """The ELF headers of a file in a directory of the walk (opened without following it)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError:  # unreadable or gone: nothing the loader could use either
        return None
    try:
        return read_elf(fd)
    except (ElfError, OSError):  # a broken ELF file is not a program to check
        return None
    finally:
        os.close(fd)
