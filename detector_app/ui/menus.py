"""Every menu and toolbar of the main window, built in one place from the controllers' actions.

Where an action lives: File (projects, sources, labels in and out) in ProjectController and
SourceController, Edit and View (review, stepping through images) in ImagesController, Model in
ModelController, Tools and Help on the window itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QComboBox, QMainWindow, QMenu, QSlider, QToolBar

from detector_app.ui.actions import make_action
from detector_app.ui.icons import set_icon
from detector_app.ui.images_controller import ImagesController
from detector_app.ui.model_controller import ModelController
from detector_app.ui.project_controller import ProjectController
from detector_app.ui.source_controller import SourceController
from detector_app.ui.theme import add_theme_menu
from detector_app.ui.video_controller import VideoController


def set_action_icons(images: ImagesController, sources: SourceController) -> None:
    """Icons from resources/icons, one that says what each action does (see ui/icons.py)."""
    for action, name in (
        (sources.act_webcam, "webcam"), (sources.act_video, "open-video"), (sources.act_folder, "open-folder"),
        (sources.act_stream, "stream-url"), (sources.act_stop, "stop"), (sources.act_play, "pause"),
        (sources.act_capture, "capture"), (sources.act_batch, "detect-all"), (images.act_draw, "draw-box"),
        (images.act_accept, "accept"), (images.act_accept_enter, "accept"), (images.act_accept_all, "accept-all"),
        (images.act_reject, "reject"), (images.act_delete, "delete"), (images.act_relabel, "change-class"),
        (images.act_prev, "previous-image"), (images.act_prev2, "previous-image"), (images.act_next, "next-image"),
        (images.act_next2, "next-image"), (images.act_undo, "undo"), (images.act_redo, "redo"),
        (images.act_fit, "zoom-fit"), (images.act_manage_classes, "classes"), (images.act_cycle, "cycle-boxes"),
        (images.act_cycle_back, "cycle-boxes-back"), (images.act_hide, "hide"), (images.act_show_hidden, "show"),
        (images.act_lock, "lock"),
    ):
        set_icon(action, name)


def build_menus(window: QMainWindow, settings: QSettings, projects: ProjectController, sources: SourceController,
                images: ImagesController, model: ModelController, show_plugins: Callable[[], object],
                show_shortcuts: Callable[[], object], show_about: Callable[[], object],
                queue_actions: Sequence[QAction] = (), analysis_actions: Sequence[QAction] = (),
                team_actions: Sequence[QAction] = ()) -> QActionGroup:
    """The menu bar; returns the View › Theme action group. ``queue_actions`` (the review queue's order) go to
    View, ``analysis_actions`` (a version's errors on the holdout) to Model, ``team_actions`` (next image for me,
    the annotator's name) to View."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addActions([projects.act_new, projects.act_open, projects.act_open_team])
    file_menu.addSeparator()
    file_menu.addActions([sources.act_video, sources.act_folder, sources.act_stream])
    recent_menu = file_menu.addMenu("Recent sources")
    set_icon(recent_menu.menuAction(), "recent")
    recent_menu.aboutToShow.connect(lambda: sources.fill_recent_menu(recent_menu))
    file_menu.addSeparator()
    file_menu.addActions([projects.act_import_coco, projects.act_export])
    file_menu.addSeparator()
    file_menu.addAction(make_action(window, "Quit", window.close, QKeySequence.StandardKey.Quit, icon="quit"))

    edit_menu = bar.addMenu("&Edit")
    edit_menu.addActions([images.act_undo, images.act_redo])
    edit_menu.addSeparator()
    edit_menu.addActions([images.act_draw, images.act_accept, images.act_accept_all, images.act_reject,
                          images.act_delete, images.act_relabel])
    edit_menu.addSeparator()
    edit_menu.addActions([images.act_manage_classes, images.act_advance, images.act_cycle, images.act_cycle_back,
                          images.act_hide, images.act_show_hidden, images.act_lock])

    view_menu = bar.addMenu("&View")
    view_menu.addActions([images.act_fit, images.act_next, images.act_prev, *queue_actions])
    view_menu.addAction(sources.act_follow)  # live boxes follow their objects between detections
    view_menu.addSeparator()
    if team_actions:
        view_menu.addActions(list(team_actions))
        view_menu.addSeparator()
    theme_group = add_theme_menu(view_menu, settings, window)

    model_menu = bar.addMenu("&Model")
    _build_model_menu(model_menu, model)
    model_menu.addActions(list(analysis_actions))

    tools_menu = bar.addMenu("&Tools")
    tools_menu.addAction(make_action(window, "Plugins…", show_plugins, icon="plugins"))
    help_menu = bar.addMenu("&Help")
    help_menu.addAction(make_action(window, "Keyboard shortcuts", show_shortcuts, "F1", icon="help"))
    help_menu.addAction(make_action(window, "About", show_about, icon="about"))
    return theme_group


def _build_model_menu(menu: QMenu, model: ModelController) -> None:
    presets = menu.addMenu("Preset")
    set_icon(presets.menuAction(), "load-weights")
    presets.addActions(model.preset_group.actions())
    menu.addActions([model.act_load_weights, model.act_untrained])
    versions = menu.addMenu("Project model versions")
    set_icon(versions.menuAction(), "versions")
    versions.aboutToShow.connect(lambda: model.fill_versions_menu(versions))
    plugins = menu.addMenu("Plugin detectors")
    set_icon(plugins.menuAction(), "plugins")
    plugins.aboutToShow.connect(lambda: model.fill_plugin_models_menu(plugins))
    menu.addSeparator()
    device_menu, size_menu = menu.addMenu("Device"), menu.addMenu("Input size")
    set_icon(device_menu.menuAction(), "settings")
    set_icon(size_menu.menuAction(), "zoom-in")
    device_menu.addActions(model.device_group.actions())
    size_menu.addActions(model.size_group.actions())
    menu.addActions([model.act_fast, model.act_int8])
    menu.addSeparator()
    menu.addAction(model.act_train)


def build_toolbars(window: QMainWindow, sources: SourceController, images: ImagesController,
                   webcam_combo: QComboBox, seek_slider: QSlider) -> None:
    bar = QToolBar("Sources")
    bar.setObjectName("sources")
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    window.addToolBar(bar)
    bar.addWidget(webcam_combo)
    bar.addActions([sources.act_webcam, sources.act_video, sources.act_folder, sources.act_stop])
    bar.addSeparator()
    bar.addActions([sources.act_play, sources.act_capture, sources.act_batch])
    sources.steady_play_button(bar)
    bar.addWidget(seek_slider)
    review = QToolBar("Review")
    review.setObjectName("review")
    review.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    window.addToolBar(review)
    review.addActions([images.act_draw, images.act_accept, images.act_accept_all, images.act_reject,
                       images.act_delete, images.act_prev, images.act_next, images.act_undo, images.act_redo,
                       images.act_fit])


def build_video_menu(window: QMainWindow, video: VideoController, sources: SourceController) -> None:
    """File › Label a video… and Video tasks (after the sources; the first on the Sources toolbar too), and the
    Video menu before Model."""
    bar = window.menuBar()
    menus = {a.text(): a for a in bar.actions()}
    file_menu = menus["&File"].menu()
    anchor = next(a for a in file_menu.actions() if a.text() == "Recent sources")
    file_menu.insertAction(anchor, video.actions.act_label_video)
    tasks_menu = QMenu("Video tasks", file_menu)
    set_icon(tasks_menu.menuAction(), "open-video")
    tasks_menu.aboutToShow.connect(lambda: video.fill_videos_menu(tasks_menu))
    file_menu.insertMenu(anchor, tasks_menu)
    video_menu = QMenu("V&ideo", bar)
    for action in video.actions.menu_actions():
        if action is None:
            video_menu.addSeparator()
        else:
            video_menu.addAction(action)
    bar.insertMenu(menus["&Model"], video_menu)
    toolbar = window.findChild(QToolBar, "sources")
    if toolbar is not None:
        toolbar.insertAction(sources.act_folder, video.actions.act_label_video)
