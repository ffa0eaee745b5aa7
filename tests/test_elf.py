"""The ELF header reader against binutils' readelf, on this host's binaries and on made ones."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
from elfkit import EM_386, EM_AARCH64, EM_S390, EM_X86_64, ET_EXEC, ET_REL, make_elf, write_elf

from buildahpy.build.elf import Elf, ElfError, read_elf

TRIPLET = sysconfig.get_config_var("MULTIARCH") or ""


def parse(path: Path) -> Elf | None:
    fd = os.open(path, os.O_RDONLY)
    try:
        return read_elf(fd)
    finally:
        os.close(fd)


def readelf(path: Path) -> dict[str, object]:
    """What readelf -h -l -d says about a file, in read_elf's terms."""
    if shutil.which("readelf") is None:
        pytest.skip("binutils' readelf is not installed")
    out = subprocess.run(
        ["readelf", "-W", "-h", "-l", "-d", str(path)], capture_output=True, text=True, check=True
    ).stdout

    def tagged(tag: str) -> list[str]:
        return re.findall(rf"\({tag}\)\s+[^\[]*\[([^\]]*)\]", out)

    interp = re.search(r"\[Requesting program interpreter: ([^\]]+)\]", out)
    return {
        "bits": 64 if re.search(r"Class:\s+ELF64", out) else 32,
        "big_endian": "big endian" in out.split("Data:", 1)[1].splitlines()[0],
        "interp": interp.group(1) if interp else "",
        "dynamic": "DYNAMIC" in out.split("Program Headers:", 1)[-1],
        "needed": tuple(tagged("NEEDED")),
        "soname": (tagged("SONAME") or [""])[0],
        "rpath": tuple(p for text in tagged("RPATH") for p in text.split(":") if p),
        "runpath": tuple(p for text in tagged("RUNPATH") for p in text.split(":") if p),
    }


def as_readelf(elf: Elf) -> dict[str, object]:
    keys = ("bits", "big_endian", "interp", "dynamic", "needed", "soname", "rpath", "runpath")
    return {key: getattr(elf, key) for key in keys}


def host_elves(limit: int = 40) -> list[Path]:
    """ELF files of this host: programs from /usr/bin and libraries, the first few by name."""
    found: list[Path] = []
    for directory in ("/usr/bin", f"/usr/lib/{TRIPLET}" if TRIPLET else "/usr/lib64"):
        files = sorted(p for p in Path(directory).iterdir() if p.is_file())
        found += [p for p in files if p.open("rb").read(4) == b"\x7fELF"][:limit]
    return found


def test_ls_needs_libc() -> None:
    elf = parse(Path("/bin/ls"))
    assert elf is not None and elf.loadable
    assert "libc.so.6" in elf.needed
    assert elf.interp.startswith("/") and "ld" in Path(elf.interp).name
    if platform.machine() == "x86_64":
        assert (elf.bits, elf.big_endian, elf.machine) == (64, False, EM_X86_64)
    elif platform.machine() == "aarch64":
        assert (elf.bits, elf.big_endian, elf.machine) == (64, False, EM_AARCH64)


@pytest.mark.parametrize("path", host_elves(), ids=str)
def test_host_binaries_read_as_readelf_reads_them(path: Path) -> None:
    elf = parse(path)
    assert elf is not None
    assert as_readelf(elf) == readelf(path)


def test_the_host_libc_names_itself() -> None:
    libc = next(p for p in host_elves(10_000) if p.name == "libc.so.6")
    elf = parse(libc)
    assert elf is not None and elf.soname == "libc.so.6" == readelf(libc)["soname"]


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("big_endian", [False, True])
def test_made_files_of_every_class_and_byte_order(
    tmp_path: Path, bits: int, big_endian: bool
) -> None:
    machine = EM_S390 if big_endian else (EM_X86_64 if bits == 64 else EM_386)
    path = write_elf(
        tmp_path / "obj",
        bits=bits,
        big_endian=big_endian,
        machine=machine,
        interp="/lib/ld-test.so.1",
        needed=("libfoo.so.1", "libbar.so.2"),
        soname="libme.so.3",
        rpath="/opt/a:/opt/b",
        runpath="$ORIGIN/../lib",
    )
    elf = parse(path)
    assert elf is not None
    assert as_readelf(elf) == readelf(path)  # the made file is what readelf reads, too
    assert (elf.bits, elf.big_endian, elf.machine) == (bits, big_endian, machine)
    assert elf.needed == ("libfoo.so.1", "libbar.so.2") and elf.soname == "libme.so.3"
    assert elf.rpath == ("/opt/a", "/opt/b") and elf.runpath == ("$ORIGIN/../lib",)


def test_not_elf_is_none_and_broken_elf_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "text").write_text("#!/bin/sh\necho hi\n")
    assert parse(tmp_path / "text") is None
    (tmp_path / "empty").write_bytes(b"")
    assert parse(tmp_path / "empty") is None
    whole = make_elf(needed=("libfoo.so.1",))
    (tmp_path / "cut").write_bytes(whole[: len(whole) - 20])  # the dynamic table cut short
    with pytest.raises(ElfError):
        parse(tmp_path / "cut")


def test_what_the_loader_handles(tmp_path: Path) -> None:
    relocatable = parse(write_elf(tmp_path / "o", e_type=ET_REL, dynamic=False))
    static = parse(write_elf(tmp_path / "s", e_type=ET_EXEC, dynamic=False))
    assert relocatable is not None and not relocatable.loadable
    assert static is not None and not static.loadable and static.needed == ()
