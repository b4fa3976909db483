"""Light and dark themes: the Fusion style, a palette and a stylesheet, all from ``resources/styles``.

View › Theme chooses "system" (follow the desktop's colour scheme, the default), "light" or "dark"; the
choice is kept in the settings under ``view/theme``.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QPalette
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from detector_app import resources
from detector_app.ui import icons

THEME_KEY = "view/theme"
CHOICES = (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark"))
_state = {"choice": "system", "hooked": False}


def is_dark() -> bool:
    return QApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def resolve(choice: str) -> str:
    """``light`` or ``dark``: the system's scheme for "system" (and for an unknown stored value)."""
    return choice if choice in resources.THEMES else ("dark" if is_dark() else "light")


def saved_choice(settings: QSettings) -> str:
    choice = str(settings.value(THEME_KEY, "system"))
    return choice if choice in dict(CHOICES) else "system"


def theme_palette(app: QApplication, theme: str) -> QPalette:
    colors = resources.palette_colors(theme)
    palette = app.style().standardPalette()
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        for role, color in colors.get("roles", {}).items():
            palette.setColor(group, QPalette.ColorRole[role], QColor(color))
    for role, color in colors.get("disabled", {}).items():
        palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole[role], QColor(color))
    return palette


def apply_theme(app: QApplication, choice: str = "system") -> str:
    """Style, palette and stylesheet of ``choice`` on the whole app; icons repainted. Returns the theme used."""
    _state["choice"] = choice
    theme = resolve(choice)
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")  # predictable on every desktop
    app.setPalette(theme_palette(app, theme))
    app.setStyleSheet(resources.stylesheet(theme))
    app.setProperty("theme", theme)
    for widget in app.topLevelWidgets():
        icons.refresh_icons(widget)
    if not _state["hooked"]:
        _state["hooked"] = True
        app.styleHints().colorSchemeChanged.connect(lambda _scheme: _follow_system(app))
    return theme


def _follow_system(app: QApplication) -> None:
    if _state["choice"] == "system":
        apply_theme(app, "system")


def apply_saved_theme(settings: QSettings) -> str:
    app = QApplication.instance()
    return apply_theme(app, saved_choice(settings)) if app is not None else "light"


def add_theme_menu(menu: QMenu, settings: QSettings, parent: QWidget) -> QActionGroup:
    """A Theme submenu of ``menu`` with one checkable action per choice; choosing one applies and saves it."""
    submenu = menu.addMenu("Theme")
    icons.set_icon(submenu.menuAction(), "theme")
    group = QActionGroup(parent)
    current = saved_choice(settings)
    for choice, text in CHOICES:
        action = QAction(text, parent, checkable=True)
        action.setData(choice)
        action.setChecked(choice == current)
        action.triggered.connect(partial(_choose, settings, choice))
        group.addAction(action)
        submenu.addAction(action)
    return group


def _choose(settings: QSettings, choice: str) -> None:
    settings.setValue(THEME_KEY, choice)
    apply_theme(QApplication.instance(), choice)
