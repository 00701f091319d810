"""Replace PyAV's video-encoder libraries with small stand-ins (Linux builds).

PyAV's wheel links FFmpeg against x265, SVT-AV1, x264 and libvpx: 32 MB of the build,
and only video *encoders* (libvpx also has VP8/VP9 decoders, but FFmpeg's own VP8/VP9
decoders are the ones it picks). Tiro decodes audio and never encodes video. FFmpeg
cannot load without them, so each is replaced by a library with the same name that
defines the same symbols:

- what FFmpeg calls while it registers its codecs (``ff_vp9_init_static`` asks libvpx
  for its version and capabilities) answers as a library without those encoders would;
- what an encoder's setup calls fails the way the real library reports failure, so
  opening such an encoder gives FFmpeg's own error;
- anything else, reachable only past a setup that now fails, stops the process with one
  line that names the library, rather than running on with made-up results.

``tests/test_encoder_stubs.py`` builds the stand-ins against the installed PyAV and checks
that every corpus format still decodes and that each encoder fails to open cleanly.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import elf

# File-name prefix -> what each imported symbol does in the stand-in. A value is C code
# for the body (``return ...;``), or one of the special forms below; symbols not listed
# stop the process. Names are matched without the API-build suffix that x264 and x265
# append (``x264_encoder_open_165``, ``x265_api_get_216``). Every value is checked
# against FFmpeg's use (libavcodec/libx264.c, libx265.c, libvpxenc.c, libvpxdec.c,
# libvpx.c, libsvtav1.c) and by tests/test_encoder_stubs.py.
VERSION = "version"  # the real library's own answer (an int function, asked at build time)
X265_TABLE = "x265 table"  # a pointer to X265_API below
UNAVAILABLE = '"not in this build (Tiro never encodes video)"'

BEHAVIOUR: dict[str, dict[str, str]] = {
    # FFmpeg asks x265_api_get_* for each bit depth while it registers codecs, and on
    # opening the encoder calls through the table it gets back without checking it.
    "libx265": {"x265_api_get": X265_TABLE},
    "libx264": {
        "x264_param_default": "return;",
        "x264_param_cleanup": "return;",
        "x264_param_default_preset": "return -1;",  # FFmpeg: "Error setting preset/tune"
        "x264_encoder_open": "return 0;",  # NULL: FFmpeg returns AVERROR_EXTERNAL
        "x264_encoder_close": "return;",
    },
    "libvpx": {
        "vpx_codec_version": VERSION,
        "vpx_codec_version_str": f"return {UNAVAILABLE};",
        "vpx_codec_build_config": f"return {UNAVAILABLE};",
        "vpx_codec_get_caps": "return 0;",
        "vpx_codec_vp8_cx": "return 0;",
        "vpx_codec_vp8_dx": "return 0;",
        "vpx_codec_vp9_cx": "return 0;",
        "vpx_codec_vp9_dx": "return 0;",
        "vpx_codec_enc_config_default": "return 1;",  # VPX_CODEC_ERROR
        "vpx_codec_enc_init_ver": "return 1;",
        "vpx_codec_dec_init_ver": "return 1;",
        "vpx_codec_destroy": "return 0;",
        "vpx_codec_err_to_string": f"return {UNAVAILABLE};",
        "vpx_codec_error": f"return {UNAVAILABLE};",
        "vpx_codec_error_detail": f"return {UNAVAILABLE};",
    },
    "libSvtAv1Enc": {
        "svt_av1_enc_init_handle": "return (int)0x80001000;",  # EB_ErrorInsufficientResources
        "svt_metadata_array_free": "return;",
    },
}
VOID_BODIES = {"return;"}
# An x265_api table (x265.h: eight ints, two strings, then function pointers) whose every
# function is ``unavailable``: registration sees an x265, opening the encoder stops.
X265_API = """\
static void x265_unavailable(void) { unavailable("x265"); }
static const struct {
    int header[8];
    const char *strings[2];
    void (*functions[256])(void);
} x265_api = {
    {1, X265_BUILD, 0, 0, 0, 0, 0, 8},
    {"not in this build", "not in this build"},
    {[0 ... 255] = x265_unavailable},
};
"""


@dataclass(frozen=True)
class Symbol:
    name: str
    is_function: bool
    size: int  # bytes, for data objects


def replaceable(av_libs: Path) -> list[Path]:
    """The encoder libraries in a bundle's ``av.libs`` folder (none if already replaced)."""
    found = []
    for path in sorted(av_libs.iterdir()):
        if library_name(path) in BEHAVIOUR and not is_stand_in(path):
            found.append(path)
    return found


def library_name(path: Path) -> str:
    """``libx265`` for ``libx265-f5385bb8.so.216`` (auditwheel's hash) or ``libx265.so.216``."""
    return path.name.split("-")[0].split(".")[0]


MARKER = "tiro_encoder_stand_in"


def is_stand_in(path: Path) -> bool:
    return MARKER in _defined(path)


def _defined(path: Path) -> dict[str, Symbol]:
    symbols = {}
    for fields in elf.dynamic_symbols(path, "--defined-only", "-S"):
        if len(fields) == 4:
            _, size, kind, name = fields
        elif len(fields) == 3:
            _, kind, name = fields
            size = "0"
        else:
            continue
        name = name.split("@")[0]
        symbols[name] = Symbol(name, kind in "TtWi", int(size, 16))
    return symbols


def imported_from(library: Path, consumers: Iterable[Path]) -> list[Symbol]:
    """The symbols of ``library`` that any of ``consumers`` imports."""
    wanted = set()
    for consumer in consumers:
        wanted |= {f[-1].split("@")[0] for f in elf.dynamic_symbols(consumer, "--undefined-only")}
    return [s for name, s in sorted(_defined(library).items()) if name in wanted]


def stand_in_source(library: Path, symbols: list[Symbol]) -> str:
    behaviour = BEHAVIOUR[library_name(library)]
    lines = [
        "#include <stdio.h>",
        "#include <stdlib.h>",
        f"int {MARKER} = 1;",
        "static void unavailable(const char *symbol) {",
        f'    fprintf(stderr, "tiro: {library.name}: %s is not in this build '
        '(Tiro never encodes video)\\n", symbol);',
        "    abort();",
        "}",
    ]
    for symbol in symbols:
        if not symbol.is_function:
            # Data (x264_levels): zeros, which also ends the table at its first entry.
            lines.append(f"const unsigned char {symbol.name}[{max(symbol.size, 1)}] = {{0}};")
            continue
        body = behaviour.get(symbol.name, behaviour.get(_without_build_suffix(symbol.name)))
        if body == VERSION:
            real = ctypes.CDLL(str(library))
            body = f"return {int(getattr(real, symbol.name)())};"
        if body == X265_TABLE:
            build = symbol.name.rsplit("_", 1)[-1]
            lines.append(X265_API.replace("X265_BUILD", build if build.isdigit() else "0"))
            lines.append(f"const void *{symbol.name}(int depth) {{ return &x265_api; }}")
        elif body is None:
            lines.append(f'void {symbol.name}(void) {{ unavailable("{symbol.name}"); }}')
        elif body in VOID_BODIES:
            lines.append(f"void {symbol.name}(void) {{ {body} }}")
        elif body.startswith('return "'):
            lines.append(f"const char *{symbol.name}(void) {{ {body} }}")
        else:
            # long fills the whole return register: right for int, enum, long and
            # pointer results alike on the 64-bit ABIs PyAV ships for.
            lines.append(f"long {symbol.name}(void) {{ {body} }}")
    return "\n".join(lines) + "\n"


def _without_build_suffix(name: str) -> str:
    return re.sub(r"_\d+$", "", name)


def build_stand_in(library: Path, consumers: Iterable[Path], out: Path) -> None:
    """Compile the stand-in for ``library`` (same file name and soname) into ``out``."""
    symbols = imported_from(library, consumers)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "stand_in.c"
        source.write_text(stand_in_source(library, symbols))
        elf.build_like(library, source, out, "-fPIC", "-O2")
    missing = {s.name for s in symbols} - set(_defined(out))
    if missing:
        raise RuntimeError(f"stand-in for {library.name} lacks {sorted(missing)}")


def tools_missing() -> list[str]:
    return [tool for tool in ("gcc", *elf.TOOLS) if shutil.which(tool) is None]


def replace_encoders(av_libs: Path) -> int:
    """Replace every encoder library in ``av_libs``; returns the bytes saved."""
    consumers = [p for p in av_libs.iterdir() if p.name.startswith("libav")]
    saved = 0
    for library in replaceable(av_libs):
        stand_in = library.with_name(library.name + ".stand-in")
        build_stand_in(library, consumers, stand_in)
        saved += library.stat().st_size - stand_in.stat().st_size
        stand_in.replace(library)
    return saved
