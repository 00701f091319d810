"""The Linux build cuts PySide6's ICU data to the root and English locales
(packaging/icu_data.py). This test cuts a copy of the installed PySide6's data and asks
Qt itself what changed: English behaves exactly as before, other locales fall back to
root and English as documented, and Qt's own locale formats are untouched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packaging"))

import icu_data  # noqa: E402

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or bool(icu_data.tools_missing()),
    reason="the ICU data is cut on Linux with icupkg and gcc (CI installs icu-devtools, gcc)",
)

PROBE = textwrap.dedent(
    """
    import functools, json, sys
    from PySide6 import QtCore
    from PySide6.QtCore import (QCollator, QDateTime, QLocale, QStringDecoder,
                                QTextBoundaryFinder, QTimeZone)
    assert QtCore.__file__.startswith(sys.argv[1]), QtCore.__file__
    words = ["zebra", "Äpfel", "apple", "Ölberg", "österreich", "Zürich", "ångström",
             "İstanbul", "item10", "item9", "co-op", "coop", "Coop"]
    def ordered(locale):
        collator = QCollator(QLocale(locale))
        collator.setNumericMode(True)
        return sorted(words, key=functools.cmp_to_key(collator.compare))
    when = QDateTime.fromSecsSinceEpoch(1700000000)
    berlin = QTimeZone(b"Europe/Berlin")
    zone = lambda locale: berlin.displayName(when, QTimeZone.NameType.LongName, QLocale(locale))
    text = "Tiro's editor: don't split words-with-hyphens, 3.5 times."
    finder = QTextBoundaryFinder(QTextBoundaryFinder.BoundaryType.Word, text)
    breaks = []
    while (b := finder.toNextBoundary()) != -1:
        breaks.append(b)
    print(json.dumps({
        "order_en": ordered("en_US"), "order_en_gb": ordered("en_GB"), "order_sv": ordered("sv_SE"),
        "upper_en": QLocale("en_US").toUpper("istanbul straße"),
        "zone_en": zone("en_US"), "zone_de": zone("de_DE"),
        "utf": [QStringDecoder(n).isValid() for n in ("UTF-8", "UTF-16LE", "ISO-8859-1")],
        "legacy": [QStringDecoder(n).isValid() for n in ("Shift_JIS", "KOI8-R")],
        "qt_formats": [
            QLocale("de_DE").toString(1234567.891, "f", 2),
            QLocale("de_DE").toString(when.toUTC().date(), QLocale.FormatType.LongFormat),
            QLocale("ja_JP").nativeLanguageName(),
        ],
        "breaks": breaks,
    }))
    """
)


def _probe(site: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(site)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _pyside_with_own_qt_core(tmp_path: Path) -> Path:
    """A PySide6 whose QtCore and ICU libraries are copies (the rest are links)."""
    import PySide6

    real = Path(PySide6.__file__).resolve().parent
    site = tmp_path / "site"
    (site / "PySide6" / "Qt" / "lib").mkdir(parents=True)
    (site / "shiboken6").symlink_to(real.parent / "shiboken6")
    for entry in real.iterdir():
        if entry.name == "Qt":
            continue
        if entry.name.startswith("QtCore."):
            shutil.copy2(entry, site / "PySide6" / entry.name)
        else:
            (site / "PySide6" / entry.name).symlink_to(entry)
    for entry in (real / "Qt").iterdir():
        if entry.name != "lib":
            (site / "PySide6" / "Qt" / entry.name).symlink_to(entry)
    for entry in (real / "Qt" / "lib").iterdir():
        target = site / "PySide6" / "Qt" / "lib" / entry.name
        if entry.name.startswith(("libicu", "libQt6Core.")):
            shutil.copy2(entry, target)
        else:
            target.symlink_to(entry)
    return site


def test_english_behaves_as_before_and_other_locales_fall_back(tmp_path: Path) -> None:
    import PySide6

    site = _pyside_with_own_qt_core(tmp_path)
    (library,) = (site / "PySide6" / "Qt" / "lib").glob("libicudata.so.*")
    full = _probe(site)
    saved = icu_data.english_only(library)
    cut = _probe(site)

    assert saved > 20e6, saved
    assert (
        Path(PySide6.__file__).resolve().parent.joinpath("Qt", "lib", library.name).stat().st_size
        > 30e6
    )
    for same in ("order_en", "order_en_gb", "upper_en", "zone_en", "utf", "qt_formats", "breaks"):
        assert cut[same] == full[same], same
    # What the cut leaves out, as documented: Swedish collation falls back to root, German
    # zone names to English, and legacy codecs are unavailable.
    assert full["order_sv"] != full["order_en"] and cut["order_sv"] == cut["order_en"]
    assert full["zone_de"] != full["zone_en"] and cut["zone_de"] == cut["zone_en"]
    assert full["legacy"] == [True, True] and cut["legacy"] == [False, False]


def test_only_other_languages_locale_data_and_legacy_converters_are_dropped() -> None:
    kept = [
        "root.res",
        "en.res",
        "en_GB.res",
        "coll/root.res",
        "coll/en.res",
        "coll/ucadata.icu",
        "zone/en_001.res",
        "res_index.res",
        "coll/res_index.res",
        "curr/pool.res",
        "brkitr/word.brk",
        "brkitr/cjdict.dict",
        "brkitr/de.res",
        "nfkc.nrm",
        "uprops.icu",
        "cnvalias.icu",
        "zoneinfo64.res",
        "metaZones.res",
        "likelySubtags.res",
        "translit/root.res",
        "supplementalData.res",
    ]
    dropped = [
        "de.res",
        "sv_SE.res",
        "coll/de_.res",
        "zone/zh_Hant_HK.res",
        "curr/fr.res",
        "lang/haw.res",
        "unit/sr_Latn.res",
        "ibm-943_P15A-2003.cnv",
        "rbnf/ja.res",
    ]
    assert [item for item in kept if icu_data.is_dropped(item)] == []
    assert [item for item in dropped if not icu_data.is_dropped(item)] == []
