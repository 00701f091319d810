"""Facts about ELF files in a Linux build, read with binutils (``readelf``, ``nm``).

Used by the build's strip and slim steps (packaging/build.py, slim.py, icu_data.py,
encoder_stubs.py), which also build replacement libraries here (``build_like``).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

TOOLS = ("readelf", "nm")


@dataclass(frozen=True)
class LoadSegment:
    offset: int  # in the file
    address: int  # virtual
    file_size: int
    alignment: int


def is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def elf_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if is_elf(path))


class ElfError(RuntimeError):
    """binutils could not read a file the build relies on."""


def _readelf(path: Path, flag: str) -> list[str]:
    out = subprocess.run(["readelf", flag, str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        # an empty answer would read as "no SONAME, needs nothing" and mislead the slimming
        said = out.stderr.strip().splitlines()
        reason = said[-1] if said else f"exit {out.returncode}"
        raise ElfError(f"readelf {flag} {path} failed: {reason}")
    return out.stdout.splitlines()


def _dynamic(path: Path, tag: str) -> list[str]:
    return [
        line.split("[", 1)[1].rstrip("]") for line in _readelf(path, "-d") if f"({tag})" in line
    ]


def soname(path: Path) -> str:
    return next(iter(_dynamic(path, "SONAME")), path.name)


def needed(path: Path) -> set[str]:
    return set(_dynamic(path, "NEEDED"))


def load_segments(path: Path) -> list[LoadSegment]:
    segments = []
    for line in _readelf(path, "-lW"):
        fields = line.split()
        if fields[:1] == ["LOAD"]:
            segments.append(
                LoadSegment(
                    offset=int(fields[1], 16),
                    address=int(fields[2], 16),
                    file_size=int(fields[4], 16),
                    alignment=int(fields[-1], 16),
                )
            )
    return segments


def load_segments_aligned(path: Path) -> bool:
    """Whether every LOAD segment's file offset and address agree modulo its alignment."""
    return all(
        s.alignment <= 1 or (s.offset - s.address) % s.alignment == 0 for s in load_segments(path)
    )


def file_offset(path: Path, address: int) -> int:
    """The file offset of a virtual address, from the program headers."""
    for s in load_segments(path):
        if s.address <= address < s.address + s.file_size:
            return address - s.address + s.offset
    raise ValueError(f"address {address:#x} is not in a loaded segment of {path.name}")


def dynamic_symbols(path: Path, *flags: str) -> list[list[str]]:
    """``nm -D [flags]``, one list of fields per symbol."""
    out = subprocess.run(
        ["nm", "-D", *flags, str(path)], capture_output=True, text=True, check=True
    )
    return [line.split() for line in out.stdout.splitlines() if line.strip()]


def build_like(library: Path, source: Path, out: Path, *flags: str) -> None:
    """Compile ``source`` (C or assembly) with gcc into a shared library ``out`` that has
    ``library``'s soname, so that whatever loads ``library`` loads it in its place."""
    subprocess.run(
        ["gcc", "-shared", *flags, f"-Wl,-soname,{soname(library)}", "-o", str(out), str(source)],
        capture_output=True,
        text=True,
        check=True,
    )
