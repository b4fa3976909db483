"""Which model runs, on what device and precision: the Model menu's actions, loading weights in the
background, the project's model versions, plugin detectors and the training dialog."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog, QLabel, QMenu, QWidget

from detector_app.detection.config import DetectorConfig
from detector_app.detection.preset_names import PRESET_DESCRIPTIONS
from detector_app.errors import DetectorAppError
from detector_app.plugins_api import get_manager
from detector_app.ui import model_loading
from detector_app.ui.actions import make_action
from detector_app.ui.messages import Messages
from detector_app.ui.project_controller import ProjectController
from detector_app.ui.workers import BackgroundTasks, CallWorker, failure_message

if TYPE_CHECKING:
    from detector_app.detection.detector import Detector

SIZES = (320, 512, 640, 800)
DEVICES = ("auto", "cpu", "cuda", "mps")  # cuda and mps are shown once torch says this computer has them
ALWAYS_THERE = ("auto", "cpu")
UNTRAINED_NOTE = ("Untrained weights (for trying the app): random weights do not find objects. Their boxes are "
                  "noise with scores near 0.01; set the score threshold to 0 to see them, or load trained "
                  "weights or a project model version (Model menu).")


class ModelController(QObject):
    """Owns ``detector``; says ``detector_changed`` when another one runs."""

    detector_changed = Signal(object)  # Detector

    def __init__(self, window: QWidget, settings: QSettings, projects: ProjectController, messages: Messages,
                 status_model: QLabel, status_device: QLabel, tasks: BackgroundTasks) -> None:
        super().__init__(window)
        self.window, self.settings, self.projects, self.messages = window, settings, projects, messages
        self.status_model, self.status_device, self.tasks = status_model, status_device, tasks
        self.detector: Detector | None = None
        self.requested = False  # a model was asked for (load_model) or given (set_detector)
        self.train_dialog = None  # the open TrainDialog, kept referenced
        self.preset_group = self._preset_group()
        self.act_load_weights = make_action(window, "Load weights file…", self.choose_weights_file, icon="import")
        self.act_untrained = make_action(window, "Use untrained weights (testing)", self.use_untrained,
                                         checkable=True)
        self.act_untrained.setChecked(settings.value("model/weights", "default") == "none")
        self.device_group = self._choice_group(DEVICES, "model/device", "auto")
        for act in self.device_group.actions():  # until torch is loaded (with the first model) only these
            act.setVisible(act.data() in ALWAYS_THERE)
        self._working_device = str(settings.value("model/device", "auto"))  # the last device that ran a model
        self._loading: model_loading.ModelChoice | None = None
        self.size_group = self._choice_group(SIZES, "model/size", 512)
        self.act_fast = make_action(window, "Fast path (bf16 / channels-last)", self.apply_detector_config,
                                    checkable=True)
        self.act_fast.setChecked(settings.value("model/fast", True, type=bool))
        self.act_int8 = make_action(window, "Int8 on the CPU (OpenVINO; calibrates on the first 8 frames)",
                                    self.apply_detector_config, checkable=True)
        self.act_int8.setChecked(settings.value("model/int8", False, type=bool))
        self.act_train = make_action(window, "Train on reviewed labels…", self.open_train_dialog, "Ctrl+T",
                                     icon="train")

    def _preset_group(self) -> QActionGroup:
        group = QActionGroup(self)
        for name, description in PRESET_DESCRIPTIONS.items():
            act = QAction(f"{name} — {description}", self, checkable=True)
            act.setData(name)
            act.triggered.connect(partial(self.choose_preset, name))
            group.addAction(act)
        return group

    def _choice_group(self, values: Iterable[object], key: str, default: object) -> QActionGroup:
        """One checkable action per value (a device, an input size), the remembered one checked."""
        group = QActionGroup(self)
        current = str(self.settings.value(key, default))
        for value in values:
            act = QAction(str(value), self, checkable=True)
            act.setData(value)
            act.setChecked(str(value) == current)
            act.triggered.connect(self.apply_detector_config)
            group.addAction(act)
        return group

    # configuration -------------------------------------------------------------------------------------
    def detector_config(self) -> DetectorConfig:
        size = self.size_group.checkedAction()
        device = self.device_group.checkedAction()
        # The score slider (down to 0) decides what is shown, and the view says what it hides. 0.001, not 0:
        # untrained weights score ~0.01, while a trained head scores most of its ~10^6 anchor-class pairs far
        # below 0.001, and keeping them all would send every one through top-k.
        return DetectorConfig(size=int(size.data()) if size else 512, score_threshold=0.001,
                              device=str(device.data()) if device else "auto", fast=self.act_fast.isChecked(),
                              int8=self.act_int8.isChecked())

    def apply_detector_config(self) -> None:
        """Apply the Model menu's choices to the running model. A device that fails shows why in the banner,
        is not remembered, and the model goes on running where it ran before."""
        config = self.detector_config()
        if self.detector is None:
            self._remember_config()
            self.load_model()  # none runs (a failed load, e.g. on a missing device): try again with this choice
            return
        try:
            self.detector.update_config(size=config.size, device=config.device, fast=config.fast, int8=config.int8)
        except (DetectorAppError, RuntimeError) as exc:
            self._check_device(self._working_device)
            why = failure_message("moving the model failed", exc)
            self.messages.show_error(f"Cannot run the model on {config.device}: {why}. "
                                     f"It keeps running on {self.detector.device.type}.")
            return
        self._working_device = config.device
        self._remember_config()
        self.update_status()

    def _remember_config(self) -> None:
        for key, group in (("model/size", self.size_group), ("model/device", self.device_group)):
            if group.checkedAction() is not None:
                self.settings.setValue(key, group.checkedAction().data())
        self.settings.setValue("model/fast", self.act_fast.isChecked())
        self.settings.setValue("model/int8", self.act_int8.isChecked())

    def _check_device(self, device: str) -> None:
        for act in self.device_group.actions():
            act.setChecked(act.data() == device)

    def show_available_devices(self) -> list[str]:
        """Offer only the devices this computer has (called once torch is loaded: it asks torch)."""
        # Imported here: it imports torch, which the window loads only with the first model.
        from detector_app.detection.devices import available_devices

        present = ["auto", *available_devices()]
        for act in self.device_group.actions():
            act.setVisible(act.data() in present)
        return present

    def version_id(self) -> int | None:
        """The project model version that runs, if one was chosen: stored with its predictions."""
        version = self.settings.value("model/version")
        return int(version) if version not in (None, "") else None

    # loading -------------------------------------------------------------------------------------------
    def load_model(self) -> None:
        """Load the chosen model off the UI thread; a failure shows a banner and the app carries on."""
        self.requested = True
        project = self.projects.project
        spec = model_loading.ModelChoice.from_settings(self.settings, project)
        self._loading = spec
        for act in self.preset_group.actions():
            act.setChecked(act.data() == spec.preset)
        self.status_model.setText(f"model: loading {spec.label}…")
        worker = CallWorker(partial(model_loading.build_detector, spec, self.detector_config(), project))
        worker.returned.connect(self._on_model_loaded)
        worker.errored.connect(self._on_model_failed)
        self.tasks.start(worker)

    def _on_model_loaded(self, detector: Detector) -> None:
        self.messages.clear()
        self.show_available_devices()
        self._working_device = self.detector_config().device
        self._remember_config()
        untrained = self._loading is not None and self._loading.untrained
        self.act_untrained.setChecked(untrained)  # ticked only while untrained weights are what runs
        self.set_detector(detector)
        if untrained:
            self.messages.show_note(UNTRAINED_NOTE)

    def set_detector(self, detector: Detector) -> None:
        """Switch the running model (a live source restarts with it)."""
        self.requested = True
        self.detector = detector
        self.update_status()
        if self.train_dialog is not None:
            self.train_dialog.set_current_model(detector.name)
        self.detector_changed.emit(detector)

    def _on_model_failed(self, exc: Exception) -> None:
        self.detector = None
        self.status_model.setText("model: none")
        device = self.detector_config().device
        if device not in self.show_available_devices():
            # A device this computer lacks (remembered by an older version, or chosen while no model ran):
            # forget it and load again on the one that works; auto is always there, so this happens once.
            self._check_device(self._working_device if self._working_device != device else "auto")
            self._remember_config()
            self.messages.show_error(f"{failure_message('loading the model failed', exc)}. Loading the model on "
                                     f"{self.detector_config().device} instead.")
            self.load_model()
            return
        why = failure_message("loading the model failed", exc)
        self.messages.show_error(f"{why}\nYou can still review and "
                                 "draw labels. Choose Model › Load weights file…, a project model version, or "
                                 "Model › Use untrained weights to try the app.")

    def update_status(self) -> None:
        d = self.detector
        if d is None:
            return
        self.status_model.setText(f"model: {d.name}")
        self.status_device.setText(f"{d.device.type.upper()} · {getattr(d, 'int8_status', None) or d.precision}")

    # choosing a model ----------------------------------------------------------------------------------
    def _choose_model(self, key: str | None = None, value: object = None) -> None:
        """Remember one model source (preset, file, version or plugin), forget the others, load it."""
        for other in ("model/file", "model/version", "model/plugin"):
            self.settings.remove(other)
        if key is not None:
            self.settings.setValue(key, value)
        self.load_model()

    def choose_preset(self, name: str) -> None:
        self.settings.setValue("model/preset", name)
        self._choose_model()

    def choose_weights_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Load weights", "",
                                              "PyTorch weights (*.pth *.pt);;All files (*)")
        if path:
            self._choose_model("model/file", path)

    def use_untrained(self, on: bool) -> None:
        """Untrained weights replace whatever runs (a file, a version); unticking goes back to the preset's
        pretrained weights."""
        self.settings.setValue("model/weights", "none" if on else "default")
        self._choose_model()

    def fill_versions_menu(self, menu: QMenu) -> None:
        menu.clear()
        project = self.projects.project
        versions = project.repo.model_versions() if project else []
        if not versions:
            menu.addAction("No versions yet: train one with Model › Train").setEnabled(False)
        for version in versions:
            act = menu.addAction(f"{version.name}{'  (active)' if version.is_active else ''}")
            act.triggered.connect(partial(self.activate_version, version.id))

    def activate_version(self, version_id: int) -> None:
        # Imported here: the training package imports torch, needed only now that a version's model is loaded.
        from detector_app.training.versions import activate_version

        try:
            activate_version(self.projects.project, version_id)
        except DetectorAppError as exc:
            self.messages.show_error(str(exc))
            return
        self._choose_model("model/version", int(version_id))

    def fill_plugin_models_menu(self, menu: QMenu) -> None:
        menu.clear()
        detectors = get_manager().detectors()
        if not detectors:
            menu.addAction("No detector plugins (see Tools › Plugins)").setEnabled(False)
        for name in sorted(detectors):
            menu.addAction(name).triggered.connect(partial(self._choose_model, "model/plugin", name))

    def open_train_dialog(self) -> None:
        # Imported when first opened: the training dialog pulls in the training package and pyqtgraph.
        from detector_app.ui.train_dialog import TrainDialog

        dialog = TrainDialog(self.projects.project.path, self.detector.name if self.detector else None,
                             parent=self.window, settings=self.settings)
        dialog.version_activated.connect(self.activate_version)
        dialog.show()
        self.train_dialog = dialog
