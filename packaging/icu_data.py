"""Cut the ICU data that PySide6 ships down to what an English app uses (Linux builds).

Qt links ICU, and ``libicudata.so.<N>`` is 32 MB: every locale's collation, currency,
unit, language, region and time-zone names, and legacy character-set converters. Qt takes
its locale formats from its own CLDR tables, not from ICU; it asks ICU for collation
(``QCollator``), time-zone display names and non-Unicode codecs (``QStringDecoder``), and
Tiro uses none of these. So the build keeps:

- the root locale and every English locale (``en``, ``en_GB``, ...), in every tree;
- everything that is not locale data: Unicode properties, normalization, break rules and
  their dictionaries, the root collation, time-zone rules, the converter alias table;

and leaves out the other locales' data and the legacy converters (``*.cnv``). Another
locale then falls back to root (collation) or English (names), and a legacy codec is
reported as unavailable (``QStringDecoder.isValid()`` is false), which is what ICU does
for any locale or codec it lacks. Measured: 32.0 MB -> 8.5 MB.

The data is one symbol, ``icudt<N>_dat``, in that library. It is cut out, trimmed with
ICU's own ``icupkg`` (package ``icu-devtools``), and linked back into a library with the
same soname and symbol. ``tests/test_icu_data.py`` checks the result with Qt itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import elf

# Trees of per-locale data (besides the top level, which holds the main locale data).
LOCALE_TREES = frozenset({"coll", "curr", "lang", "region", "unit", "zone", "rbnf"})
KEPT_LANGUAGES = frozenset({"en"})
# Not locales, though named like one: each tree's index of locales and its string pool.
KEPT_NAMES = frozenset({"res_index.res", "pool.res", "root.res"})
_LOCALE_ITEM = re.compile(r"^(?P<language>[a-z]{2,3})(_[A-Za-z0-9]*)*\.res$")
_SYMBOL = re.compile(r"^icudt(?P<version>\d+)_dat$")


def tools_missing() -> list[str]:
    return [tool for tool in ("icupkg", "gcc", *elf.TOOLS) if shutil.which(tool) is None]


def is_dropped(item: str) -> bool:
    """Whether the package item (``coll/de.res``, ``ibm-943_P15A-2003.cnv``) is left out."""
    tree, _, name = item.rpartition("/")
    if name.endswith(".cnv"):
        return True
    if (tree and tree not in LOCALE_TREES) or name in KEPT_NAMES:
        return False
    match = _LOCALE_ITEM.match(name)
    return bool(match) and match["language"] not in KEPT_LANGUAGES


def _data_symbol(library: Path) -> tuple[str, int, int]:
    """(name, file offset, size) of the ``icudt<N>_dat`` symbol."""
    for fields in elf.dynamic_symbols(library, "--defined-only", "-S"):
        if len(fields) == 4 and _SYMBOL.match(fields[3]):
            address, size = int(fields[0], 16), int(fields[1], 16)
            return fields[3], elf.file_offset(library, address), size
    raise ValueError(f"{library.name} has no icudt<N>_dat symbol")


def english_only(library: Path) -> int:
    """Rewrite ``libicudata.so.<N>`` in place with the English subset; returns bytes saved."""
    symbol, offset, size = _data_symbol(library)
    version = _SYMBOL.match(symbol)["version"]
    package = f"icudt{version}l"  # icupkg names the items after the package file's name
    before = library.stat().st_size
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        (work / "out").mkdir()
        full = work / "in" / f"{package}.dat"
        with library.open("rb") as f:
            f.seek(offset)
            full.write_bytes(f.read(size))
        listed = subprocess.run(
            ["icupkg", "-l", str(full)], capture_output=True, text=True, check=True
        )
        dropped = [item for item in listed.stdout.split() if is_dropped(item)]
        (work / "dropped.txt").write_text("\n".join(dropped) + "\n")
        trimmed = work / "out" / f"{package}.dat"
        subprocess.run(
            ["icupkg", "-r", str(work / "dropped.txt"), str(full), str(trimmed)],
            capture_output=True,
            text=True,
            check=True,
        )
        assembly = work / "data.S"
        assembly.write_text(
            "    .section .rodata\n"
            f"    .globl {symbol}\n"
            f"    .type {symbol}, @object\n"
            "    .balign 16\n"
            f"{symbol}:\n"
            f'    .incbin "{trimmed}"\n'
            f"    .size {symbol}, . - {symbol}\n"
            '    .section .note.GNU-stack,"",@progbits\n'
        )
        rebuilt = work / library.name
        elf.build_like(library, assembly, rebuilt, "-nostdlib")
        shutil.copymode(library, rebuilt)
        shutil.move(str(rebuilt), str(library))
    return before - library.stat().st_size
