"""resources/: every icon exists and renders, both themes load and apply, the label maps read."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from detector_app import resources

from .conftest import REPO_ROOT

# One icon per action the mission lists (and the app icon).
REQUIRED_ICONS = (
    "app", "open-video", "open-folder", "webcam", "stream-url", "play", "pause", "stop", "step", "capture",
    "detect-all", "draw-box", "select", "accept", "accept-all", "reject", "undo", "redo", "delete", "zoom-in",
    "zoom-out", "zoom-fit", "train", "export", "import", "settings", "plugins", "help", "next-image",
    "previous-image",
)


@pytest.fixture
def light_again(qapp):
    """Whatever theme a test applies, the app goes back to the light theme after it."""
    yield qapp
    from detector_app.ui.theme import apply_theme

    apply_theme(qapp, "light")


def test_resources_are_read_from_the_source_tree() -> None:
    assert resources.resources_root() == REPO_ROOT / "resources"


def test_every_required_icon_exists() -> None:
    missing = [name for name in REQUIRED_ICONS if name not in resources.icon_names()]
    assert missing == []


@pytest.mark.parametrize("name", resources.icon_names())
def test_icon_is_valid_svg_and_renders(qapp, name: str) -> None:
    from PySide6.QtGui import QColor
    from PySide6.QtSvg import QSvgRenderer

    from detector_app.ui.icons import icon

    path = resources.icon_path(name)
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    if name != "app":
        assert root.get("viewBox") == "0 0 24 24" and root.get("stroke") == "currentColor"
    assert QSvgRenderer(str(path)).isValid()
    image = icon(name, QColor("#ff00ff")).pixmap(24, 24).toImage()
    assert not image.isNull()
    painted = [image.pixelColor(x, y) for x in range(24) for y in range(24) if image.pixelColor(x, y).alpha() > 128]
    assert len(painted) > 15, f"{name} draws almost nothing"


def test_icons_take_the_given_colour(qapp) -> None:
    from PySide6.QtGui import QColor

    from detector_app.ui.icons import icon

    image = icon("stop", QColor("#ff0000")).pixmap(24, 24).toImage()
    solid = {image.pixelColor(x, y).name() for x in range(24) for y in range(24) if image.pixelColor(x, y).alpha() == 255}
    assert solid == {"#ff0000"}


def test_missing_icon_is_a_resource_error() -> None:
    with pytest.raises(resources.ResourceError, match="no-such-icon"):
        resources.icon_path("no-such-icon")


@pytest.mark.parametrize("theme", resources.THEMES)
def test_stylesheets_load_and_apply(light_again, theme: str) -> None:
    from detector_app.ui.theme import apply_theme

    qss = resources.stylesheet(theme)
    assert "QFrame#banner" in qss and "QGraphicsView#canvas" in qss
    assert apply_theme(light_again, theme) == theme
    assert light_again.styleSheet() == qss
    window = light_again.palette().color(light_again.palette().ColorRole.Window).name()
    assert (window == "#2d2d30") == (theme == "dark")


def test_unknown_theme_is_refused() -> None:
    with pytest.raises(resources.ResourceError, match="unknown theme"):
        resources.stylesheet("sepia")


def test_banner_takes_its_colours_from_the_stylesheet(light_again, qtbot) -> None:
    from detector_app.ui.banner import Banner
    from detector_app.ui.theme import apply_theme

    apply_theme(light_again, "light")
    banner = Banner()
    qtbot.addWidget(banner)
    banner.resize(300, 40)
    for kind, background in (("error", "#fde2e1"), ("info", "#e3f0fd")):
        banner.show_message("hello", kind)
        assert banner.property("kind") == kind
        assert banner.grab().toImage().pixelColor(150, 3).name() == background


def test_coco_label_map_matches_torchvision() -> None:
    from detector_app.detection.presets import coco_class_names

    names = resources.label_map("coco")
    assert len(names) == 91 and names[0] == "__background__" and names[1] == "person"
    assert tuple(names) == coco_class_names()


def test_coco_default_colours_match_the_palette() -> None:
    from detector_app.core.palette import class_color_hex

    colors = resources.label_colors("coco")
    names = [n for n in resources.label_map("coco") if n not in ("__background__", "N/A")]
    assert list(colors) == names
    assert all(colors[n] == class_color_hex(n) for n in names)


def test_main_window_actions_have_resource_icons(light_again, qtbot, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QToolBar, QToolButton

    from detector_app.ui.icons import icon_name
    from detector_app.ui.main_window import MainWindow

    from .ui_helpers import make_settings

    window = MainWindow(settings=make_settings(tmp_path), project_path=tmp_path / "project")
    qtbot.addWidget(window)
    assert not window.windowIcon().isNull()
    toolbar_actions = [a for bar in window.findChildren(QToolBar) for a in bar.actions()
                       if isinstance(bar.widgetForAction(a), QToolButton)]
    assert len(toolbar_actions) >= 15
    for action in toolbar_actions:
        assert icon_name(action) in resources.icon_names(), action.text()
        assert not action.icon().isNull(), action.text()
    assert icon_name(window.act_draw) == "draw-box"
    menus = [a for menu in window.menuBar().actions() for a in menu.menu().actions() if a.text() and not a.isSeparator()]
    without = [a.text() for a in menus if not icon_name(a) and not a.isCheckable()]
    assert without == []
    assert light_again.styleSheet() == resources.stylesheet(light_again.property("theme"))


def test_theme_menu_applies_and_remembers_the_choice(light_again, qtbot, tmp_path: Path) -> None:
    from PySide6.QtGui import QColor

    from detector_app.ui.main_window import MainWindow
    from detector_app.ui.theme import THEME_KEY

    from .ui_helpers import make_settings

    settings = make_settings(tmp_path, view__theme="light")
    window = MainWindow(settings=settings, project_path=tmp_path / "project")
    qtbot.addWidget(window)

    def stop_colour() -> str:
        image = window.act_stop.icon().pixmap(24, 24).toImage()
        return max((image.pixelColor(x, y) for x in range(24) for y in range(24)), key=QColor.alpha).name()

    light_colour = stop_colour()
    dark = next(a for a in window.theme_group.actions() if a.data() == "dark")
    dark.trigger()
    assert settings.value(THEME_KEY) == "dark"
    assert light_again.property("theme") == "dark"
    assert light_again.styleSheet() == resources.stylesheet("dark")
    assert stop_colour() != light_colour  # icons repainted in the dark palette's text colour
    window.close()

    again = MainWindow(settings=settings, project_path=tmp_path / "project")
    qtbot.addWidget(again)
    assert light_again.property("theme") == "dark"
    assert next(a for a in again.theme_group.actions() if a.isChecked()).data() == "dark"
