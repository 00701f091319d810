"""Shrink third-party libraries in a frozen Linux build, keeping what Tiro uses.

Two replacements, each explained and tested in its own module:

- ``icu_data``: PySide6's ICU data cut to the root and English locales (32 -> 8.5 MB);
- ``encoder_stubs``: PyAV's video-encoder libraries (x265, SVT-AV1, x264, libvpx)
  replaced by stand-ins that fail cleanly (32 MB -> 64 kB).

Then the system libraries that only the replaced ones needed (``libmvec``, for x265) are
removed. Windows and macOS builds are left as they are: their Qt uses the system's ICU,
and their PyAV libraries are built differently.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import elf
import encoder_stubs
import icu_data


@dataclass(frozen=True)
class Slimmed:
    saved_bytes: int
    messages: tuple[str, ...]


def slim(folder: Path) -> Slimmed:
    """Cut the ICU data and replace the video encoders in ``folder`` (``dist/tiro``)."""
    if not sys.platform.startswith("linux"):
        return Slimmed(0, ("slim: not a Linux build, libraries left as they are",))
    internal = folder / "_internal"
    messages: list[str] = []
    saved = 0

    missing = icu_data.tools_missing()
    icu = sorted((internal / "PySide6" / "Qt" / "lib").glob("libicudata.so.*"))
    if missing:
        messages.append(
            f"slim: ICU data left whole: {', '.join(missing)} not found "
            "(apt install icu-devtools gcc)"
        )
    for library in icu if not missing else []:
        cut = icu_data.english_only(library)
        saved += cut
        messages.append(
            f"slim: {library.name} cut to the root and English locales, {cut / 1e6:.1f} MB saved"
        )

    missing = encoder_stubs.tools_missing()
    av_libs = internal / "av.libs"
    if missing:
        messages.append(
            f"slim: video encoders left in: {', '.join(missing)} not found "
            "(apt install gcc binutils)"
        )
    elif av_libs.is_dir():
        replaced = encoder_stubs.replaceable(av_libs)
        their_needs = set().union(*(elf.needed(p) for p in replaced)) if replaced else set()
        cut = encoder_stubs.replace_encoders(av_libs)
        saved += cut
        if replaced:
            names = ", ".join(encoder_stubs.library_name(p) for p in replaced)
            messages.append(
                f"slim: video encoders replaced by stand-ins ({names}), {cut / 1e6:.1f} MB saved"
            )
        still_needed = set().union(*(elf.needed(p) for p in elf.elf_files(internal)))
        for name in sorted(their_needs - still_needed):
            orphan = internal / name
            if orphan.is_file():
                saved += orphan.stat().st_size
                orphan.unlink()
                messages.append(f"slim: {name} removed (only the replaced encoders needed it)")
    return Slimmed(saved, tuple(messages))
