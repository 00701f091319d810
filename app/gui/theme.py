"""Colours, fonts and the style sheet: one calm light theme with a single accent.

Colours that carry meaning (unsure word, current word, match, added, removed,
verified) are named here and used by the painters, so they stay consistent.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication


class Colors:
    window = QColor("#f6f7f9")
    base = QColor("#ffffff")
    alt_base = QColor("#f9fafb")
    text = QColor("#1f2328")
    muted = QColor("#6b7280")
    faint = QColor("#9ca3af")
    border = QColor("#e3e6ea")
    accent = QColor("#2563eb")
    accent_soft = QColor("#e8effd")
    selection = QColor("#dbe7fd")
    current_row = QColor("#f1f6ff")
    hover = QColor("#fafbfc")
    playing_word = QColor("#2563eb")
    playing_word_text = QColor("#ffffff")
    unsure = QColor("#d97706")
    unsure_soft = QColor("#fdf1dc")
    match = QColor("#fde68a")
    match_current = QColor("#f59e0b")
    added = QColor("#15803d")
    added_soft = QColor("#dcfce7")
    removed = QColor("#b91c1c")
    removed_soft = QColor("#fee2e2")
    verified = QColor("#16a34a")
    played = QColor("#86c99b")
    edited = QColor("#2563eb")
    error = QColor("#b91c1c")
    error_soft = QColor("#fdecec")
    info_soft = QColor("#eef4ff")
    warning_soft = QColor("#fff6e0")
    record = QColor("#dc2626")


SPEAKER_COLORS = ("#2563eb", "#9333ea", "#0d9488", "#c2410c", "#be185d", "#4d7c0f", "#0369a1")


def speaker_color(name: str) -> QColor:
    if not name:
        return Colors.faint
    return QColor(SPEAKER_COLORS[sum(map(ord, name)) % len(SPEAKER_COLORS)])


def transcript_font() -> QFont:
    font = QFont(QApplication.font())
    font.setPointSizeF(max(11.0, font.pointSizeF() + 1.5))
    return font


def small_font() -> QFont:
    font = QFont(QApplication.font())
    font.setPointSizeF(max(8.0, font.pointSizeF() - 1.0))
    return font


STYLE_SHEET = """
QMainWindow, QDialog { background: %(window)s; }
QToolBar { background: %(window)s; border: none; border-bottom: 1px solid %(border)s;
           padding: 4px 6px; spacing: 2px; }
QToolBar QToolButton { padding: 4px 8px; border-radius: 6px; color: %(text)s; }
QToolBar QToolButton:hover { background: %(accent_soft)s; }
QToolBar QToolButton:checked { background: %(selection)s; }
QToolBar QToolButton:disabled { color: %(faint)s; }
QToolBar::separator { width: 1px; background: %(border)s; margin: 4px 6px; }
QLineEdit, QComboBox, QDoubleSpinBox, QSpinBox, QKeySequenceEdit {
    background: %(base)s; border: 1px solid %(border)s; border-radius: 6px; padding: 4px 6px; }
QLineEdit:focus, QComboBox:focus, QDoubleSpinBox:focus, QSpinBox:focus {
    border: 1px solid %(accent)s; }
QPushButton { background: %(base)s; border: 1px solid %(border)s; border-radius: 6px;
              padding: 5px 12px; }
QPushButton:hover { border-color: %(accent)s; }
QPushButton:focus { border: 1px solid %(accent)s; }
QPushButton:default { background: %(accent)s; color: white; border-color: %(accent)s; }
QPushButton:disabled { color: %(faint)s; }
QTreeView, QListView, QTableView { background: %(base)s; border: none;
    selection-background-color: %(selection)s; selection-color: %(text)s; outline: 0; }
QHeaderView::section { background: %(base)s; color: %(muted)s; border: none;
    border-bottom: 1px solid %(border)s; padding: 4px 8px; font-weight: 600; }
QSplitter::handle { background: %(border)s; }
QSplitter::handle:horizontal { width: 1px; }
QSplitter::handle:vertical { height: 1px; }
QStatusBar { background: %(window)s; color: %(muted)s; border-top: 1px solid %(border)s; }
QMenu { background: %(base)s; border: 1px solid %(border)s; padding: 4px; }
QMenu::item { padding: 5px 24px 5px 12px; border-radius: 4px; }
QMenu::item:selected { background: %(accent_soft)s; color: %(text)s; }
QToolTip { background: %(text)s; color: white; border: none; padding: 4px 6px; }
QLabel#paneTitle { color: %(muted)s; font-weight: 600; padding: 8px 10px 4px 10px; }
QLabel#transcriptTitle { font-size: 15pt; font-weight: 600; color: %(text)s; }
QLabel#transcriptFacts { color: %(muted)s; }
QFrame#pane { background: %(base)s; }
QFrame#findBar { background: %(base)s; border-bottom: 1px solid %(border)s; }
QFrame#playerBar { background: %(base)s; border-top: 1px solid %(border)s; }
QFrame#editorHeader { background: %(base)s; border-bottom: 1px solid %(border)s; }
QFrame#messageBar[kind="error"] { background: %(error_soft)s; border-bottom: 1px solid #f5c2c2; }
QFrame#messageBar[kind="info"] { background: %(info_soft)s; border-bottom: 1px solid #cddcfb; }
QFrame#messageBar[kind="warning"] { background: %(warning_soft)s;
    border-bottom: 1px solid #f3dca3; }
QSlider::groove:horizontal { height: 4px; background: %(border)s; border-radius: 2px; }
QSlider::sub-page:horizontal { background: %(accent)s; border-radius: 2px; }
QSlider::handle:horizontal { background: %(base)s; border: 2px solid %(accent)s; width: 10px;
    height: 10px; margin: -5px 0; border-radius: 7px; }
QSlider::handle:horizontal:focus { background: %(accent)s; }
QProgressBar { background: %(border)s; border: none; border-radius: 3px; height: 6px;
    text-align: center; }
QProgressBar::chunk { background: %(accent)s; border-radius: 3px; }
"""


def color_names() -> dict[str, str]:
    return {name: value.name() for name, value in vars(Colors).items() if isinstance(value, QColor)}


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, Colors.window)
    palette.setColor(QPalette.ColorRole.WindowText, Colors.text)
    palette.setColor(QPalette.ColorRole.Base, Colors.base)
    palette.setColor(QPalette.ColorRole.AlternateBase, Colors.alt_base)
    palette.setColor(QPalette.ColorRole.Text, Colors.text)
    palette.setColor(QPalette.ColorRole.Button, Colors.base)
    palette.setColor(QPalette.ColorRole.ButtonText, Colors.text)
    palette.setColor(QPalette.ColorRole.Highlight, Colors.accent)
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("white"))
    palette.setColor(QPalette.ColorRole.PlaceholderText, Colors.faint)
    palette.setColor(QPalette.ColorRole.ToolTipBase, Colors.text)
    palette.setColor(QPalette.ColorRole.ToolTipText, QColor("white"))
    palette.setColor(QPalette.ColorRole.Link, Colors.accent)
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, Colors.faint)
    app.setPalette(palette)
    app.setStyleSheet(STYLE_SHEET % color_names())
