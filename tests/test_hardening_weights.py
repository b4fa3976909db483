"""Hostile weight files and checkpoints (issue 11, item 5): one clear line, exit 2, database unchanged.

Every odd file goes through the real CLI entry point in its own process: one driver process imports the
app once and forks a child per case (so a case costs milliseconds, not a fresh ``import torch``), and a
few cases also run as a plain ``python -m detector_app``. The GUI's Model › load weights path shows a
banner for the same files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from detector_app.detection.weights import random_model, save_model
from detector_app.detection.weights_metadata import WeightsMetadata
from detector_app.errors import TrainingError, WeightsError
from detector_app.storage import Project
from detector_app.training.checkpoint import CHECKPOINT_NAME, FORMAT
from detector_app.training.plan import run_dir
from detector_app.training.settings import TrainSettings

from .synthetic_shapes import make_shapes_dataset, store_in_project

REPO = Path(__file__).resolve().parent.parent
LOGITS = "head.classification_head.cls_logits.weight"
TINY_STATE = {LOGITS: torch.zeros(27, 1, 1, 1), "x.bias": torch.zeros(2)}
NAMES = ["__background__", "circle", "square", "triangle"]


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


class ShellCommand:
    """The classic payload: unpickling calls ``os.system`` (torch blocks the module: "... is blocked")."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


def _wrapped(**changes: object) -> dict[str, object]:
    return {"preset": "retinanet_light", "class_names": ["circle", "square"], "state_dict": TINY_STATE, **changes}


# name -> payload saved with torch.save (or a callable that makes the file itself), expected message part
WEIGHT_CASES: dict[str, tuple[object, str]] = {
    "preset_list": (_wrapped(preset=["retinanet_light"]), "preset must be a model preset name, not a list"),
    "preset_unknown": (_wrapped(preset="yolo"), "unknown model preset 'yolo'"),
    "names_int": (_wrapped(class_names=5), "class_names must be a list of class names, not the number 5"),
    "names_string": (_wrapped(class_names="cat"), "class_names is a single text"),
    "names_not_text": (_wrapped(class_names=[1, 2]), "class name 1 is the number 1, not text"),
    "names_duplicate": (_wrapped(class_names=["a", "b", "a"]), "class name 'a' appears more than once"),
    "names_huge": (_wrapped(class_names=[f"c{i}" for i in range(20000)]), "lists 20000 names"),
    "names_nested": (_wrapped(class_names=[["a"], {"b": 1}]), "class name 1 is a list of 1 items"),
    "names_control": (_wrapped(class_names=["ok", "\x1b[2Jboom"]), "control character"),
    "state_is_tensor": (_wrapped(state_dict=torch.zeros(3)), "state_dict is a single tensor"),
    "payload_tensor": (torch.zeros(3), "holds a single tensor"),
    "payload_list": ([1, 2, 3], "does not hold a model state dict (it holds a list of 3 items)"),
    "state_nested_junk": ({"state_dict": {"a": {"b": [1, 2]}}}, "entry 'a' is a dict of 1 entries, not a tensor"),
    "wrong_keys": (_wrapped(state_dict={"x.weight": torch.zeros(1)}), "is not a RetinaNet checkpoint"),
    "wrong_shape": ("wrong_shape", "does not fit the retinanet_light architecture"),
    "unsafe_pickle": ({"state_dict": Evil()}, "was refused as unsafe: it contains Python objects that could run code"),
    "os_system_pickle": ({"state_dict": ShellCommand()}, "was refused as unsafe: it contains Python objects that "
                         "could run code when loaded, so it was not loaded (only plain tensors and metadata are "
                         f"accepted; it names '{os.system.__module__}.system')"),
    "empty": ("empty", "it is empty (0 bytes)"),
    "directory": ("directory", "is a folder, not a weight file"),
    "fifo": ("fifo", "is not a regular file"),
    "zip_not_torch": ("zip", "is a zip archive but not a PyTorch file"),
    "truncated": ("truncated", "truncated or damaged"),
}


EVAL_AND_PARENT_SAMPLE = ("preset_list", "names_int", "names_string", "names_duplicate", "state_is_tensor",
                          "wrong_shape", "unsafe_pickle", "os_system_pickle", "directory", "fifo", "truncated")


def _base_checkpoint() -> dict[str, object]:
    return {"format": FORMAT, "epoch": 1, "model": {LOGITS: torch.zeros(36, 1, 1, 1)},
            "optimizer": {"state": {}, "param_groups": []}, "scheduler": {},
            "settings": TrainSettings(epochs=3, size=64, threads=1).to_dict(), "preset": "retinanet_light",
            "class_names": NAMES, "split": {"train": [1, 2], "val": [3]}, "history": []}


CHECKPOINT_CASES: dict[str, tuple[object, str]] = {
    "epoch_string": ({"epoch": "3"}, "epoch must be a whole number, not the text '3'"),
    "settings_list": ({"settings": [1, 2]}, "settings must be a dict, not a list of 2 items"),
    "settings_bad_value": ({"settings": {"epochs": "ten"}}, "setting epochs is the text 'ten'"),
    "preset_list": ({"preset": ["retinanet_light"]}, "preset must be a model preset name"),
    "names_string": ({"class_names": "circle"}, "class_names is a single text"),
    "names_duplicate": ({"class_names": ["circle", "circle"]}, "appears more than once"),
    "model_tensor": ({"model": torch.zeros(4)}, "model is a single tensor"),
    "optimizer_list": ({"optimizer": [1]}, "optimizer state must be a dict"),
    "split_junk": ({"split": {"train": "abc", "val": []}}, "split['train'] must be a list of image ids"),
    "history_junk": ({"history": "x"}, "history must be a list"),
    "no_marker": ("no_marker", "is not a training checkpoint of this app"),
    "head_mismatch": ({"model": {LOGITS: torch.zeros(45, 1, 1, 1)}}, "do not match the model: the tensor of the wrong shape"),
    "wrong_keys": ({"model": {LOGITS: torch.zeros(36, 1, 1, 1), "x": torch.zeros(1)}}, "do not match the model"),
    "unsafe_pickle": ({"history": [Evil()]}, "was refused as unsafe: it contains Python objects that could run code"),
    "os_system_pickle": ({"history": [ShellCommand()]}, "was refused as unsafe: it contains Python objects that "
                         f"could run code when loaded, so it was not loaded (only plain tensors and metadata are "
                         f"accepted; it names '{os.system.__module__}.system')"),
    "empty": ("empty", "it is empty (0 bytes)"),
    "directory": ("directory", "is a folder, not a checkpoint"),
    "fifo": ("fifo", "is not a regular file"),
    "truncated": ("truncated", "truncated or damaged"),
}


def _write_odd(path: Path, payload: object, light_state: dict[str, torch.Tensor] | None = None,
               checkpoint: bool = False) -> Path:
    if payload == "empty":
        path.write_bytes(b"")
    elif payload == "directory":
        path.mkdir()
    elif payload == "fifo":
        os.mkfifo(path)
    elif payload == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("hello.txt", "not a model")
    elif payload == "truncated":
        torch.save({"state_dict": TINY_STATE}, path)
        path.write_bytes(path.read_bytes()[:200])
    elif payload == "no_marker":
        torch.save({k: v for k, v in _base_checkpoint().items() if k != "format"}, path)
    elif payload == "wrong_shape":
        assert light_state is not None
        torch.save(_wrapped(state_dict={**light_state, "backbone.body.conv1.weight": torch.zeros(3, 3)}), path)
    elif checkpoint and isinstance(payload, dict):
        base = _base_checkpoint()
        base.update(payload)
        torch.save(base, path)
    else:
        torch.save(payload, path)
    return path


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A shapes project with one model version per odd weight file and one training run per odd checkpoint."""
    root = tmp_path_factory.mktemp("odd")
    light = random_model("retinanet_light", ["circle", "square"], seed=0).model.state_dict()
    files = {name: _write_odd(root / f"{name}.pth", payload, light) for name, (payload, _) in WEIGHT_CASES.items()}
    project_dir = root / "project"
    images = root / "images"
    with Project.open(project_dir) as project:
        repo = project.repo
        data = make_shapes_dataset(4, seed=4, out_dir=images, size=64, object_size=(0.3, 0.5))
        store_in_project(repo, data)
        for name, path in files.items():
            repo.add_model_version(f"odd-{name}", "retinanet_light", ["circle", "square"], path)
        for payload, _ in CHECKPOINT_CASES.values():
            run = repo.add_training_run({"epochs": 3})
            folder = run_dir(project, run.id)
            folder.mkdir(parents=True)
            _write_odd(folder / CHECKPOINT_NAME, payload, checkpoint=True)
    return {"root": root, "project": project_dir, "images": images, **files}


# Runs in a separate interpreter: imports the app once, then forks one child per CLI invocation. A child is a
# real process (exit status, its own stderr file); an uncaught exception prints its traceback, as python does.
DRIVER = r"""
import json, os, sys, time, traceback
import torch, torchvision  # noqa: F401  (loaded once, before forking)
from detector_app.cli.main import build_parser, main
import detector_app.cli.detect_cmd, detector_app.training.run, detector_app.training.evaluate  # noqa
import detector_app.storage.project, detector_app.storage.db as db  # noqa
from alembic.script import ScriptDirectory
build_parser()
db.head_revision()
cases, out = json.load(open(sys.argv[1])), sys.argv[2]
results = {}
for key, argv in cases.items():
    err = os.path.join(out, key + ".err")
    pid = os.fork()
    if pid == 0:
        fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(int(code or 0))
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            results[key] = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9); os.waitpid(pid, 0); results[key] = "hung"
            break
        time.sleep(0.01)
print(json.dumps(results))
"""


def _env() -> dict[str, str]:
    env = {**os.environ, "DETECTOR_APP_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run_driver(cases: dict[str, list[str]], tmp: Path) -> dict[str, tuple[object, str]]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "cases.json").write_text(json.dumps(cases))
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(tmp / "cases.json"), str(tmp)], capture_output=True,
                          text=True, timeout=240, env=_env(), cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    codes = json.loads(proc.stdout.strip().splitlines()[-1])
    return {key: (codes[key], (tmp / f"{key}.err").read_text(errors="replace")) for key in cases}


def _assert_one_clear_line(key: str, code: object, err: str, expected: str) -> None:
    assert code == 2, f"{key}: exit {code}\n{err}"
    assert "Traceback" not in err and "TypeError" not in err, f"{key}:\n{err}"
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, f"{key}: {err!r}"
    assert expected in error_lines[0], f"{key}: expected {expected!r} in {error_lines[0]!r}"
    assert "\x1b" not in err, f"{key}: raw escape sequence printed"


def test_odd_files_through_every_command(odd: dict[str, Path], tmp_path: Path) -> None:
    project = str(odd["project"])
    db = odd["project"] / "project.db"
    before = db.read_bytes()
    with Project.open(odd["project"], create=False) as opened:
        versions = {v.name.removeprefix("odd-"): v.id for v in opened.repo.model_versions()}
        runs = [r.id for r in opened.repo.training_runs()]
    cases: dict[str, list[str]] = {}
    for name in WEIGHT_CASES:
        cases[f"detect-{name}"] = ["detect", str(odd["images"]), "--model", str(odd[name]),
                                   "--out", str(tmp_path / "out.json")]
    # eval and train --parent read a file through the same load_model as detect: a sample of each kind.
    for name in EVAL_AND_PARENT_SAMPLE:
        cases[f"eval-{name}"] = ["eval", "--project", project, "--version", str(versions[name]), "--device", "cpu"]
        cases[f"parent-{name}"] = ["train", "--project", project, "--parent", str(odd[name]), "--epochs", "1",
                                   "--size", "64", "--threads", "1", "--device", "cpu"]
    for run_id, name in zip(runs, CHECKPOINT_CASES, strict=True):
        cases[f"resume-{name}"] = ["train", "--project", project, "--resume", str(run_id), "--threads", "1"]
    results = _run_driver(cases, tmp_path / "driver")
    for key, (code, err) in results.items():
        kind, name = key.split("-", 1)
        expected = (CHECKPOINT_CASES if kind == "resume" else WEIGHT_CASES)[name][1]
        _assert_one_clear_line(key, code, err, expected)
    assert db.read_bytes() == before, "train/eval changed the database"
    assert not any((odd["project"] / "models").glob("*.pth")), "no model version may be registered"


@pytest.mark.parametrize("argv_kind", ["detect", "resume"])
def test_plain_cli_process(odd: dict[str, Path], tmp_path: Path, argv_kind: str) -> None:
    """The same through ``python -m detector_app``, exactly as a user runs it."""
    if argv_kind == "detect":
        argv = ["detect", str(odd["images"]), "--model", str(odd["unsafe_pickle"]), "--out", str(tmp_path / "o.json")]
        expected = "unsafe_pickle.pth was refused as unsafe: it contains Python objects that could run code"
    else:
        with Project.open(odd["project"], create=False) as opened:
            run_id = opened.repo.training_runs()[list(CHECKPOINT_CASES).index("epoch_string")].id
        argv = ["train", "--project", str(odd["project"]), "--resume", str(run_id)]
        expected = "epoch must be a whole number, not the text '3'"
    before = (odd["project"] / "project.db").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "detector_app", *argv], capture_output=True, text=True,
                          timeout=120, env=_env(), cwd=tmp_path)
    _assert_one_clear_line(argv_kind, proc.returncode, proc.stderr, expected)
    assert "this must never run" not in proc.stdout
    assert (odd["project"] / "project.db").read_bytes() == before


def test_metadata_record_is_the_one_check() -> None:
    meta = WeightsMetadata.from_dict(_wrapped(class_names=["__background__", "a", "b"]), "m.pth")
    assert meta.preset == "retinanet_light" and meta.class_names == ("__background__", "a", "b")
    assert WeightsMetadata.from_dict(TINY_STATE, "bare.pth").class_names is None
    with pytest.raises(TrainingError, match="class_names is a single text"):
        WeightsMetadata.from_dict(_wrapped(class_names="ab"), "c", error=TrainingError)
    with pytest.raises(WeightsError, match="no 'model' entry"):
        WeightsMetadata.from_dict(_wrapped(), "c", state_key="model", require_metadata=True)


def test_saved_model_still_round_trips(tmp_path: Path) -> None:
    loaded = random_model("retinanet_light", ["circle", "square"], seed=0)
    path = save_model(tmp_path / "ok.pth", loaded.model, preset="retinanet_light", class_names=["circle", "square"])
    from detector_app.detection.weights import load_model

    again = load_model(path)
    assert again.class_names == ("__background__", "circle", "square") and again.preset == "retinanet_light"


def test_gui_load_weights_shows_a_banner_and_keeps_running(qtbot, tmp_path: Path, odd: dict[str, Path]) -> None:
    from detector_app.ui.main_window import MainWindow

    from .ui_helpers import make_settings

    win = MainWindow(make_settings(tmp_path, model__file=str(odd["names_string"])), project_path=tmp_path / "p")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: "class_names is a single text" in win.banner.text, timeout=30_000)
    assert win.detector is None and "Traceback" not in win.banner.text
    for name in ("unsafe_pickle", "fifo", "preset_list"):
        win._choose_model("model/file", str(odd[name]))
        qtbot.waitUntil(lambda n=name: f"{n}.pth" in win.banner.text, timeout=30_000)
        assert "TypeError" not in win.banner.text
    assert "was refused" in win.banner.text or "preset must be" in win.banner.text
    win.choose_preset("retinanet_light")  # the app carries on: an untrained preset loads
    qtbot.waitUntil(lambda: win.detector is not None, timeout=60_000)
    win.close()
