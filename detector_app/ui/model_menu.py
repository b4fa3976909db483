"""The main window's Model menu: which model runs, on what device and precision, and its versions."""

from __future__ import annotations

from functools import partial

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog

from detector_app.detection.detector import Detector, DetectorConfig
from detector_app.detection.presets import PRESETS
from detector_app.errors import DetectorAppError
from detector_app.ui import model_loading
from detector_app.ui.icons import set_icon
from detector_app.ui.workers import CallWorker, start_in_thread

SIZES = (320, 512, 640, 800)
DEVICES = ("auto", "cpu", "cuda")


class ModelMenu:
    """Mixed into ``MainWindow`` (uses its settings, project, status bar, banner and live view)."""

    def _build_model_menu(self) -> None:
        menu = self.menuBar().addMenu("&Model")
        self.preset_group = QActionGroup(self)
        presets = menu.addMenu("Preset")
        set_icon(presets.menuAction(), "load-weights")
        for name, preset in PRESETS.items():
            act = QAction(f"{name} — {preset.description}", self, checkable=True)
            act.setData(name)
            act.triggered.connect(partial(self.choose_preset, name))
            self.preset_group.addAction(act)
            presets.addAction(act)
        menu.addAction(self._action("Load weights file…", self.choose_weights_file, icon="import"))
        self.act_untrained = self._action("Use untrained weights (testing)", self.use_untrained, checkable=True)
        menu.addAction(self.act_untrained)
        self.versions_menu = menu.addMenu("Project model versions")
        set_icon(self.versions_menu.menuAction(), "versions")
        self.versions_menu.aboutToShow.connect(self._fill_versions_menu)
        self.plugin_models_menu = menu.addMenu("Plugin detectors")
        set_icon(self.plugin_models_menu.menuAction(), "plugins")
        self.plugin_models_menu.aboutToShow.connect(self._fill_plugin_models_menu)
        menu.addSeparator()
        device_menu, size_menu = menu.addMenu("Device"), menu.addMenu("Input size")
        set_icon(device_menu.menuAction(), "settings")
        set_icon(size_menu.menuAction(), "zoom-in")
        self.device_group = self._choice_menu(device_menu, DEVICES, "model/device", "auto")
        self.size_group = self._choice_menu(size_menu, SIZES, "model/size", 512)
        self.act_fast = self._action("Fast path (bf16 / channels-last)", self.apply_detector_config, checkable=True)
        self.act_fast.setChecked(self.settings.value("model/fast", True, type=bool))
        menu.addAction(self.act_fast)
        self.act_int8 = self._action("Int8 on the CPU (OpenVINO; calibrates on the first 8 frames)",
                                     self.apply_detector_config, checkable=True)
        self.act_int8.setChecked(self.settings.value("model/int8", False, type=bool))
        menu.addAction(self.act_int8)
        menu.addSeparator()
        menu.addAction(self._action("Train on reviewed labels…", self.open_train_dialog, "Ctrl+T", icon="train"))

    def _choice_menu(self, menu, values, key: str, default) -> QActionGroup:  # noqa: ANN001
        group = QActionGroup(self)
        current = str(self.settings.value(key, default))
        for value in values:
            act = QAction(str(value), self, checkable=True)
            act.setData(value)
            act.setChecked(str(value) == current)
            act.triggered.connect(self.apply_detector_config)
            group.addAction(act)
            menu.addAction(act)
        return group

    def detector_config(self) -> DetectorConfig:
        size = self.size_group.checkedAction()
        device = self.device_group.checkedAction()
        return DetectorConfig(size=int(size.data()) if size else 512, score_threshold=0.05,
                              device=str(device.data()) if device else "auto", fast=self.act_fast.isChecked(),
                              int8=self.act_int8.isChecked())

    def apply_detector_config(self) -> None:
        for key, group in (("model/size", self.size_group), ("model/device", self.device_group)):
            if group.checkedAction() is not None:
                self.settings.setValue(key, group.checkedAction().data())
        self.settings.setValue("model/fast", self.act_fast.isChecked())
        self.settings.setValue("model/int8", self.act_int8.isChecked())
        if self.detector is not None:
            config = self.detector_config()
            self.detector.update_config(size=config.size, device=config.device, fast=config.fast, int8=config.int8)
            self._update_model_status()

    def load_model(self) -> None:
        """Load the chosen model off the UI thread; a failure shows a banner and the app carries on."""
        spec = model_loading.ModelChoice.from_settings(self.settings, self.project)
        for act in self.preset_group.actions():
            act.setChecked(act.data() == spec.preset)
        self.status_model.setText(f"model: loading {spec.label}…")
        config = self.detector_config()
        worker = CallWorker(lambda: model_loading.build_detector(spec, config, self.project))
        worker.done.connect(self._on_model_loaded)
        worker.error.connect(self._on_model_failed)
        self._threads.append(start_in_thread(worker, "model-loader"))

    def _on_model_loaded(self, detector: Detector) -> None:
        self.clear_banner()
        self.set_detector(detector)

    def set_detector(self, detector: Detector) -> None:
        """Switch the running model; a live source restarts with it."""
        restart = self.live.running and self.source_spec is not None
        self.live.stop()
        self.detector = detector
        self._update_model_status()
        if restart:
            self.start_source(self.source_spec)

    def _on_model_failed(self, message: str) -> None:
        self.detector = None
        self.status_model.setText("model: none")
        self.show_error(f"{message}\nYou can still review and draw labels. Choose Model › Load weights file…, "
                        "a project model version, or Model › Use untrained weights to try the app.")

    def _update_model_status(self) -> None:
        d = self.detector
        if d is None:
            return
        self.status_model.setText(f"model: {d.name}")
        self.status_device.setText(f"{d.device.type.upper()} · {getattr(d, 'int8_status', None) or d.precision}")

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
        path, _ = QFileDialog.getOpenFileName(self, "Load weights", "", "PyTorch weights (*.pth *.pt);;All files (*)")
        if path:
            self._choose_model("model/file", path)

    def use_untrained(self, on: bool) -> None:
        self.settings.setValue("model/weights", "none" if on else "default")
        self.load_model()

    def _fill_versions_menu(self) -> None:
        self.versions_menu.clear()
        versions = self.project.repo.model_versions() if self.project else []
        if not versions:
            self.versions_menu.addAction("No versions yet: train one with Model › Train").setEnabled(False)
        for version in versions:
            act = self.versions_menu.addAction(f"{version.name}{'  (active)' if version.is_active else ''}")
            act.triggered.connect(partial(self.activate_version, version.id))

    def activate_version(self, version_id: int) -> None:
        from detector_app.training.versions import activate_version

        try:
            activate_version(self.project, version_id)
        except DetectorAppError as exc:
            self.show_error(str(exc))
            return
        self._choose_model("model/version", int(version_id))

    def _fill_plugin_models_menu(self) -> None:
        from detector_app.plugins_api import get_manager

        self.plugin_models_menu.clear()
        detectors = get_manager().detectors()
        if not detectors:
            self.plugin_models_menu.addAction("No detector plugins (see Tools › Plugins)").setEnabled(False)
        for name in sorted(detectors):
            self.plugin_models_menu.addAction(name).triggered.connect(partial(self._choose_model, "model/plugin", name))

    def open_train_dialog(self) -> None:
        try:
            from detector_app.ui.train_dialog import TrainDialog
        except ImportError as exc:
            self.show_error(f"training is not available: {exc}")
            return
        dialog = TrainDialog(self.project.path, self.detector.name if self.detector else None, parent=self)
        dialog.version_activated.connect(self.activate_version)
        dialog.show()
        self.train_dialog = dialog
