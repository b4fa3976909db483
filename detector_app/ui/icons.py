"""QIcons from the SVG files in ``resources/icons``, painted in the palette's text colour.

The icons draw with ``currentColor``; each is rendered at a few sizes in the colour of the current palette, so
it reads on the light and the dark theme alike (accept and reject keep their own green and red). An icon set
with :func:`set_icon` remembers its name on the action, so :func:`refresh_icons` repaints it after a theme change.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QObject, Qt
from PySide6.QtGui import QAction, QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from detector_app import resources

ICON_PROPERTY = "resourceIcon"  # dynamic property: the icon's name in resources/icons
SIZES = (16, 20, 24, 32, 48, 64)


def text_color() -> QColor:
    return QGuiApplication.palette().color(QPalette.ColorGroup.Active, QPalette.ColorRole.ButtonText)


def icon(name: str, color: QColor | None = None) -> QIcon:
    """The icon ``resources/icons/<name>.svg`` drawn in ``color`` (default: the palette's button text)."""
    return _icon(name, (color or text_color()).name())


@cache
def _icon(name: str, color: str) -> QIcon:
    svg = resources.icon_path(name).read_text(encoding="utf-8").replace("<svg ", f'<svg color="{color}" ', 1)
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    if not renderer.isValid():
        raise resources.ResourceError(f"icon {name!r} is not a valid SVG file")
    result = QIcon()
    for size in SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        renderer.render(painter)
        painter.end()
        result.addPixmap(pixmap)
    return result


def app_icon() -> QIcon:
    """The window icon, in its own colours (Qt's SVG icon engine scales it to any size)."""
    return QIcon(str(resources.icon_path("app")))


def set_icon(action: QAction, name: str) -> QAction:
    """Give ``action`` the icon ``name`` and remember the name for :func:`refresh_icons`; returns the action."""
    action.setIcon(icon(name))
    action.setProperty(ICON_PROPERTY, name)
    return action


def icon_name(action: QAction) -> str | None:
    """The resource icon set on ``action`` with :func:`set_icon`, or None."""
    return action.property(ICON_PROPERTY) or None


def refresh_icons(root: QObject) -> None:
    """Repaint every resource icon of the actions (menus included) under ``root`` in the current palette."""
    for action in root.findChildren(QAction):
        name = icon_name(action)
        if name:
            action.setIcon(icon(name))
