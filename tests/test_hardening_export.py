"""Exports never lose a file of the user's (issue 11: items 1, 6, 8, 9, 10).

* a user file inside the export target survives every export path (COCO, YOLO, VOC, the GUI);
* a folder that is not a previous export is refused with one ``error:`` line, exit 2, nothing touched;
* SIGKILL at random moments (and at every file system step of a publish): the previous export intact or the
  new one complete, never a mix, never a staging folder left after the next run;
* files and folders follow the umask; a read-only folder is reported as such, not blamed on a plugin;
* rows of an edited database (a path outside the project, an infinite width or box) are refused by id.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detector_app.cli.main import main
from detector_app.formats import target
from detector_app.formats.target import JOURNAL, MANIFEST, STAGING_MARKER, STAGING_PREFIX, ExportTargetError
from detector_app.storage import Project
from detector_app.transfer.exporting import export_coco

from .conftest import REPO_ROOT
from .helpers_storage import write_image

N_IMAGES = 8
SCOPE_A = "1,2,3,4"  # a smaller export (a selection) ...
SCOPE_B = "all"  # ... and a larger one, each replacing the other
USER_FILES = {"notes.txt": b"my notes\n", "images/mine.png": b"not from the app", "deep/er/x.bin": b"\x00\x01"}


# --- fixtures and helpers -----------------------------------------------------------------------------


def make_project(folder: Path, n_images: int = N_IMAGES, n_boxes: int = N_IMAGES) -> Path:
    """Images 1..n (small PNGs); the first ``n_boxes`` with one human box."""
    for i in range(n_images):
        write_image(folder / "pics" / f"img_{i:03d}.png", 24, 16, color=i * 7)
    with Project.open(folder) as project:
        repo = project.repo
        for image in repo.add_images_from_folder(folder / "pics")[:n_boxes]:
            repo.add_annotation(image.id, "cat" if image.id % 2 else "dog", (1.5, 2, 6, 5))
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error(code: int, err: str, *needles: str) -> str:
    """Exit 2, exactly one ``error:`` line on stderr, no traceback; returns the line."""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path -> bytes)."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def add_user_files(folder: Path) -> dict[str, bytes]:
    for rel, data in USER_FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return dict(USER_FILES)


def assert_user_files(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        assert (folder / rel).read_bytes() == data, rel


def export_state(folder: Path) -> dict[str, str]:
    """The export's own files (hashes; the JSON without its date), checked against the manifest."""
    manifest = json.loads((folder / MANIFEST).read_text())
    listed = {f["path"] for f in manifest["files"]}
    state = {}
    for rel in sorted(listed):
        data = (folder / rel).read_bytes()
        if rel == "instances.json":
            dataset = json.loads(data)
            dataset["info"].pop("date_created")
            data = json.dumps(dataset, sort_keys=True).encode()
        state[rel] = hashlib.sha256(data).hexdigest()
    return state


def leftovers(folder: Path) -> list[str]:
    """Staging folders and journals under ``folder`` or beside it."""
    found = []
    for place in (folder, folder.parent):
        for p in place.rglob("*") if place == folder else place.iterdir():
            if p.name.startswith((STAGING_PREFIX, ".export-")) or ".partial-" in p.name or p.name == JOURNAL:
                found.append(str(p))
    return found


def edit_db(project_dir: Path, sql: str) -> None:
    conn = sqlite3.connect(project_dir / "project.db")
    try:
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


# --- a user file inside the target survives every export path -----------------------------------------


@pytest.mark.parametrize(("fmt", "images_dir"), [("coco", "images"), ("yolo", "images"), ("voc", "JPEGImages")])
def test_user_files_survive_every_format(fmt: str, images_dir: str, project: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture, fresh_plugins: None) -> None:
    out = tmp_path / "out"
    args = ("export", fmt, str(out), "--copy-images", "--project", str(project))
    assert run_cli(capsys, *args, "--scope", SCOPE_A)[0] == 0
    first = tree(out)
    user = add_user_files(out)
    (out / images_dir).mkdir(exist_ok=True)
    (out / images_dir / "mine.jpg").write_bytes(b"the user's own picture")
    user[f"{images_dir}/mine.jpg"] = b"the user's own picture"

    # Replacing the previous export (a larger scope): its files change, the user's do not.
    assert run_cli(capsys, *args, "--scope", SCOPE_B)[0] == 0
    assert_user_files(out, user)
    after = tree(out)
    assert set(after) - set(user) - set(first) and not leftovers(out)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["format"] == fmt and not {f["path"] for f in manifest["files"]} & set(user)

    # And back to the smaller scope: files only the larger export wrote go, the user's stay.
    assert run_cli(capsys, *args, "--scope", SCOPE_A)[0] == 0
    assert_user_files(out, user)
    assert {k for k in tree(out) if k != MANIFEST} == {k for k in first if k != MANIFEST} | set(user)


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_a_folder_that_is_not_an_export_is_refused(fmt: str, project: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture, fresh_plugins: None) -> None:
    """The folder a dataset was imported from: its JSON and images must not be touched."""
    dataset = tmp_path / "dataset"
    write_image(dataset / "images" / "img_000.png", 24, 16)
    (dataset / "instances.json").write_text('{"images": []}')
    before = tree(dataset)
    code, _, err = run_cli(capsys, "export", fmt, str(dataset), "--copy-images", "--project", str(project))
    assert_one_error(code, err, str(dataset), "not empty", "nothing was written")
    assert "plugin" not in err
    assert tree(dataset) == before and sorted(p.name for p in dataset.iterdir()) == ["images", "instances.json"]


def test_a_name_taken_by_a_user_file_refuses_the_export(project: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert run_cli(capsys, "export", "coco", str(out), "--copy-images", "--scope", SCOPE_A,
                   "--project", str(project))[0] == 0
    # The larger export would write images/img_007.png: the user put a file of that name there meanwhile.
    (out / "images" / "img_007.png").write_bytes(b"the user's")
    before = tree(out)
    code, _, err = run_cli(capsys, "export", "coco", str(out), "--copy-images", "--scope", SCOPE_B,
                           "--project", str(project))
    assert_one_error(code, err, "images/img_007.png", "nothing was written")
    assert tree(out) == before


def test_a_changed_export_file_is_not_overwritten(project: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert run_cli(capsys, "export", "coco", str(out), "--project", str(project))[0] == 0
    (out / "instances.json").write_text('{"edited": "by the user"}')
    before = tree(out)
    code, _, err = run_cli(capsys, "export", "coco", str(out), "--project", str(project))
    assert_one_error(code, err, "instances.json", "changed since")
    assert tree(out) == before


def test_an_edited_manifest_refuses_the_folder(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An edited manifest no longer carries the installation's signature: the folder holds no export of ours."""
    out = tmp_path / "out"
    assert run_cli(capsys, "export", "coco", str(out), "--project", str(project))[0] == 0
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].append({"path": "../project/project.db", "size": 1, "mtime_ns": 1})
    (out / MANIFEST).write_text(json.dumps(manifest))
    before, project_before = tree(out), tree(project)
    code, _, err = run_cli(capsys, "export", "coco", str(out), "--project", str(project))
    assert_one_error(code, err, "not empty", MANIFEST, "not written by detector-app", "nothing was written")
    assert tree(out) == before and tree(project) == project_before


def test_a_signed_but_damaged_manifest_refuses_the_folder(project: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    from detector_app.formats.target_manifest import signed

    out = tmp_path / "out"
    assert run_cli(capsys, "export", "coco", str(out), "--project", str(project))[0] == 0
    manifest = json.loads((out / MANIFEST).read_text())
    manifest.pop("signature")
    manifest["files"].append({"path": "../project/project.db", "size": 1, "mtime_ns": 1})
    (out / MANIFEST).write_text(json.dumps(signed("manifest", manifest)))
    before, project_before = tree(out), tree(project)
    code, _, err = run_cli(capsys, "export", "coco", str(out), "--project", str(project))
    assert_one_error(code, err, "manifest", "damaged")
    assert tree(out) == before and tree(project) == project_before


# --- a crafted folder never makes an export delete what it did not write (manifest, journal, stage) -------


def _crafted_folder(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """A target holding a user file ``precious.txt`` and an outside folder ``victim/`` (returned with the
    target's files, compared byte for byte afterwards)."""
    out, victim = tmp_path / "out", tmp_path / "victim"
    out.mkdir()
    (out / "precious.txt").write_bytes(b"the user's precious data\n")
    victim.mkdir()
    (victim / "keep.txt").write_bytes(b"outside the target\n")
    (victim / "sub").mkdir()
    (victim / "sub" / "deep.bin").write_bytes(b"\x00\x01\x02")
    return out, victim, {"precious.txt": b"the user's precious data\n"}


def _journal(stage: str, new: list[str]) -> str:
    return json.dumps({"kind": "detector-app export", "stage": stage, "export_id": "ffff", "old": [], "new": new,
                       "created_dirs": [], "old_dirs": []})


@pytest.mark.parametrize("signature", [None, "0" * 64])
def test_a_hand_made_manifest_does_not_make_user_files_ours(signature: str | None, project: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    """1a: a manifest listing ``precious.txt`` with its exact size and time (tar keeps them) is not ours."""
    out, victim, _ = _crafted_folder(tmp_path)
    st = os.lstat(out / "precious.txt")
    manifest: dict[str, Any] = {"kind": "detector-app export", "app": "detector-app", "version": "0",
                                "format": "coco", "created": "2020-01-01T00:00:00+00:00", "export_id": "eeee",
                                "dirs": [], "files": [{"path": "precious.txt", "size": st.st_size,
                                                       "mtime_ns": st.st_mtime_ns}]}
    if signature:
        manifest["signature"] = signature
    (out / MANIFEST).write_text(json.dumps(manifest))
    before, victim_before = tree(out), tree(victim)
    code, _, err = run_cli(capsys, "export", "coco", str(out), "--project", str(project), "--scope", "all")
    assert_one_error(code, err, str(out), "not empty", "nothing was written")
    assert tree(out) == before and tree(victim) == victim_before
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST, "precious.txt"])


def test_a_hand_made_journal_is_never_acted_upon(project: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    """1b: a journal naming ``precious.txt`` as new, beside an empty staging folder: no rollback, no deletion."""
    out, victim, _ = _crafted_folder(tmp_path)
    stage = out / f"{STAGING_PREFIX}abcd1234"
    stage.mkdir()
    (out / JOURNAL).write_text(_journal(stage.name, ["precious.txt"]))
    before, victim_before = tree(out), tree(victim)
    code, _, err = run_cli(capsys, "export", "coco", str(out), "--project", str(project), "--scope", "all")
    assert_one_error(code, err, str(out), "export journal detector-app did not write", "nothing was written")
    assert tree(out) == before and tree(victim) == victim_before and stage.is_dir()
    with pytest.raises(ExportTargetError, match="did not write"):
        target.recover(out)
    assert tree(out) == before and stage.is_dir()


def test_a_journal_copied_from_another_export_is_never_acted_upon(project: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A journal signed by another installation (another app home, so another key) is not ours either."""
    from detector_app.formats.target_manifest import signed

    out, victim, _ = _crafted_folder(tmp_path)
    stage = out / f"{STAGING_PREFIX}abcd1234"
    stage.mkdir()
    (out / JOURNAL).write_text(json.dumps(signed("journal", json.loads(_journal(stage.name, ["precious.txt"])))))
    monkeypatch.setenv("DETECTOR_APP_HOME", str(tmp_path / "another-home"))
    before = tree(out)
    code, _, err = run_cli(capsys, "export", "coco", str(out), "--project", str(project))
    assert_one_error(code, err, "export journal detector-app did not write")
    assert tree(out) == before and tree(victim)


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_a_symlinked_staging_folder_is_never_followed(project: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """1c: the journal's staging folder is a symlink to an outside folder: nothing is removed through it."""
    out, victim, _ = _crafted_folder(tmp_path)
    link = out / f"{STAGING_PREFIX}abcd1234"
    link.symlink_to(victim, target_is_directory=True)
    (out / JOURNAL).write_text(_journal(link.name, []))
    (victim / STAGING_MARKER).write_text("")  # even a marker inside does not make it ours
    before, victim_before = tree(out), tree(victim)
    code, _, err = run_cli(capsys, "export", "coco", str(out), "--project", str(project), "--scope", "all")
    assert_one_error(code, err, str(out), "did not write", "nothing was written")
    assert tree(out) == before and tree(victim) == victim_before and link.is_symlink()


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_stale_staging_symlinks_and_forged_markers_are_left_alone(project: Path, tmp_path: Path) -> None:
    """Without a journal: a staging-named symlink to a folder with a marker, or a real one whose marker this
    installation did not sign, is not removed (nor anything through it)."""
    out, victim, _ = _crafted_folder(tmp_path)
    (out / "precious.txt").unlink()
    (victim / STAGING_MARKER).write_text("staging folder of a detector-app export; safe to delete\n")
    link = out / f"{STAGING_PREFIX}link"
    link.symlink_to(victim, target_is_directory=True)
    forged = out / f"{STAGING_PREFIX}forged"
    (forged / "files").mkdir(parents=True)
    (forged / STAGING_MARKER).write_text("staging folder of a detector-app export; safe to delete\n")
    (forged / "files" / "mine.txt").write_text("mine")
    victim_before = tree(victim)
    target.recover(out)
    assert tree(victim) == victim_before and link.is_symlink()
    assert (forged / "files" / "mine.txt").read_text() == "mine"


def test_the_signing_key_is_private_and_made_once(tmp_path: Path) -> None:
    from detector_app.formats import target_manifest
    from detector_app.paths import app_paths

    target_manifest._keys.clear()
    key = target_manifest.export_key()
    path = app_paths().config / target_manifest.KEY_FILE
    assert path.read_bytes() == key and len(key) == 32
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    target_manifest._keys.clear()
    assert target_manifest.export_key() == key
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(target_manifest.KEY_FILE)] == [path.name]


def test_gui_export_asks_before_replacing_and_keeps_user_files(qtbot: Any, project: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from detector_app.ui import project_controller
    from detector_app.ui.main_window import MainWindow

    from .ui_helpers import make_settings

    out, foreign = tmp_path / "out", tmp_path / "foreign"
    chosen = [out]
    answers: list[QMessageBox.StandardButton] = []
    asked: list[str] = []
    errors: list[str] = []

    class FakeDialog:
        def __init__(self, *args: Any) -> None:
            pass

        def exec(self) -> bool:
            return True

        def options(self) -> tuple[str, str, bool]:
            return "coco", "all", True

    def question(parent: Any, title: str, text: str, *args: Any) -> QMessageBox.StandardButton:
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(project_controller, "ExportDialog", FakeDialog)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(chosen[0])))
    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    window = MainWindow(make_settings(tmp_path), project_path=project)
    qtbot.addWidget(window)
    monkeypatch.setattr(window.messages, "show_error", errors.append)

    window.export_labels()  # a new folder: no question
    assert asked == [] and errors == [] and (out / "instances.json").is_file()
    user = add_user_files(out)
    exported = tree(out)

    answers.append(QMessageBox.StandardButton.Cancel)
    window.export_labels()  # a previous export: asked; Cancel leaves everything as it was
    assert len(asked) == 1 and "coco export" in asked[0] and tree(out) == exported

    answers.append(QMessageBox.StandardButton.Yes)
    window.export_labels()
    assert len(asked) == 2 and errors == []
    assert_user_files(out, user)
    assert json.loads((out / MANIFEST).read_text())["export_id"] != json.loads(exported[MANIFEST])["export_id"]

    foreign.mkdir()
    (foreign / "photo.jpg").write_bytes(b"holiday")
    chosen[0] = foreign
    window.export_labels()  # not an export: refused before anything, no question
    assert len(asked) == 2 and len(errors) == 1 and "not empty" in errors[0]
    assert tree(foreign) == {"photo.jpg": b"holiday"}
    window.close()


# --- SIGKILL: previous export intact or the new one complete --------------------------------------------


@pytest.fixture(scope="module")
def killer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A helper process that forks the CLI per request and kills it on demand (see export_kill_child.py);
    one per module: importing the CLI is the slow part."""
    home = tmp_path_factory.mktemp("killer-home")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "DETECTOR_APP_HOME": str(home)}
    with (home / "killer-stderr.txt").open("wb") as err:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("export_kill_child.py"))],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd=home,
                                text=True)
        assert json.loads(proc.stdout.readline()) == {"ready": True}

        def request(argv: list[str], kill_after: float | None = None, die_at: int | None = None,
                    inside: Path | None = None, fork: bool = True) -> dict[str, Any]:
            proc.stdin.write(json.dumps({"argv": argv, "kill_after": kill_after, "die_at": die_at,
                                         "inside": str(inside) if inside else None, "fork": fork}) + "\n")
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())

        request.home = home  # type: ignore[attr-defined]  # its key signs the journals the tests recover from
        try:
            yield request
        finally:
            proc.kill()  # no need to wait for the interpreter's shutdown
            proc.wait(timeout=30)


def _states(project: Path, tmp_path: Path, request: Any, scope_a: str) -> tuple[list[str], list[str],
                                                                                 dict[str, str], dict[str, str]]:
    """CLI arguments of exports A (a selection) and B (all) and the state each leaves (B's run time is
    remembered as ``_states.seconds``)."""
    a_args = ["export", "coco", str(tmp_path / "out"), "--copy-images", "--project", str(project),
              "--scope", scope_a]
    b_args = [*a_args[:-1], SCOPE_B]
    for name, args in (("ref-a", a_args), ("ref-b", b_args)):
        args = [*args]
        args[2] = str(tmp_path / name)
        result = request(args, fork=name == "ref-b")  # the first one warms the helper's caches
        assert result["rc"] == 0
        _states.seconds = result["seconds"]  # type: ignore[attr-defined]
    return a_args, b_args, export_state(tmp_path / "ref-a"), export_state(tmp_path / "ref-b")


def _check_after_kill(out: Path, user: dict[str, bytes], states: dict[str, dict[str, str]], when: str = "") -> str:
    """Without a journal the folder is already old or new; after recovery (what the next run does first)
    it is old or new, with no staging folder; the user's files are untouched throughout."""
    assert_user_files(out, user)
    if not (out / JOURNAL).exists():
        now = export_state(out)
        assert now in states.values(), when
    target.recover(out)
    assert not leftovers(out), when
    now = export_state(out)
    assert now in states.values(), f"a mix of two exports ({when})"
    assert_user_files(out, user)
    return next(name for name, state in states.items() if state == now)


def test_sigkill_at_random_moments_of_an_export(tmp_path: Path, killer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DETECTOR_APP_HOME", str(killer.home))  # recover here with the key the child signs with
    # Enough images that copying and publishing take most of a run, not the start-up.
    project = make_project(tmp_path / "project", n_images=60, n_boxes=6)
    out = tmp_path / "out"
    a_args, b_args, state_a, state_b = _states(project, tmp_path, killer, ",".join(map(str, range(1, 31))))
    states = {"a": state_a, "b": state_b}
    full = killer(a_args)
    assert full["rc"] == 0 and not full["killed"]
    longest = max(full["seconds"], _states.seconds)  # type: ignore[attr-defined]
    user = add_user_files(out)
    current = "a"
    rng = random.Random(11)
    outcomes = []
    for _ in range(10):
        args = b_args if current == "a" else a_args
        result = killer(args, kill_after=rng.uniform(0.0, longest * 1.2))
        outcomes.append(result["killed"])
        current = _check_after_kill(out, user, states)
    assert any(outcomes), "no run was killed: the delays are too long"
    assert killer(a_args)["rc"] == 0  # the next normal run
    assert export_state(out) == state_a and not leftovers(out)
    assert_user_files(out, user)


def test_sigkill_at_every_step_of_a_publish(tmp_path: Path, killer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child kills itself before its 1st, 2nd, ... change inside the target, until a run completes."""
    monkeypatch.setenv("DETECTOR_APP_HOME", str(killer.home))  # recover here with the key the child signs with
    project = make_project(tmp_path / "project", n_images=3)
    out = tmp_path / "out"
    a_args, b_args, state_a, state_b = _states(project, tmp_path, killer, "1")
    states = {"a": state_a, "b": state_b}
    args = {"a": a_args, "b": b_args}
    assert killer(a_args)["rc"] == 0
    user = add_user_files(out)
    state, outcomes = "a", set()
    for source, goal in (("a", "b"), ("b", "a")):
        step = 1
        while True:
            if state != source:  # a kill after the commit left the new export: start again from the old one
                assert killer(args[source])["rc"] == 0
                state = source
            result = killer(args[goal], die_at=step, inside=out)
            state = _check_after_kill(out, user, states, f"{source} -> {goal}, killed at step {step}")
            if not result["killed"]:
                assert result["rc"] == 0 and state == goal
                break
            outcomes.add("rolled back" if state == source else "completed")
            step += 1
        assert step > 10  # the publish has many steps, each one was hit
    assert outcomes == {"rolled back", "completed"}
    assert not leftovers(out)


@pytest.mark.parametrize("fail_at", [3, 6, 12])
def test_a_failure_while_publishing_restores_the_previous_export(fail_at: int, project: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    with Project.open(project) as p:
        export_coco(p.repo, out, scope=[1, 2, 3, 4], copy_images=True)
        user = add_user_files(out)
        before = tree(out)
        real, calls = os.replace, [0]

        def failing(src: Any, dst: Any) -> None:
            calls[0] += 1
            if calls[0] == fail_at:
                raise OSError(28, "No space left on device")
            real(src, dst)

        monkeypatch.setattr(os, "replace", failing)
        with pytest.raises(ExportTargetError, match="failed while publishing, the previous export was kept"):
            export_coco(p.repo, out, scope="all", copy_images=True)
    assert tree(out) == before and not leftovers(out)
    assert_user_files(out, user)


def test_stale_staging_folders_are_removed_only_when_marked(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Project.open(project) as p:
        export_coco(p.repo, out)
    from detector_app.formats.target_manifest import marker_text

    marked = out / f"{STAGING_PREFIX}dead"
    (marked / "files").mkdir(parents=True)
    (marked / STAGING_MARKER).write_text(marker_text(marked.name))
    (marked / "files" / "instances.json").write_text("{}")
    empty = out / f"{STAGING_PREFIX}empty"
    empty.mkdir()
    unmarked = out / f"{STAGING_PREFIX}users"
    unmarked.mkdir()
    (unmarked / "precious.txt").write_text("mine")
    forged = out / f"{STAGING_PREFIX}forged"
    (forged / "files").mkdir(parents=True)
    (forged / STAGING_MARKER).write_text("")
    (forged / "files" / "precious.txt").write_text("mine")
    with Project.open(project) as p:
        export_coco(p.repo, out)
    assert not marked.exists() and not empty.exists()
    assert (unmarked / "precious.txt").read_text() == "mine"
    assert (forged / "files" / "precious.txt").read_text() == "mine"


# --- modes, read-only folders ----------------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_exported_files_follow_the_umask(mask: int, project: Path, tmp_path: Path, fresh_plugins: None) -> None:
    from detector_app.transfer.exporting import export_labels

    old = os.umask(mask)
    try:
        with Project.open(project) as p:
            export_coco(p.repo, tmp_path / "coco" / "new", copy_images=True)
            export_labels(p.repo, "yolo", tmp_path / "yolo", copy_images=True)
    finally:
        os.umask(old)
    for root in (tmp_path / "coco", tmp_path / "yolo"):
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == (0o777 if path.is_dir() else 0o666) & ~mask, (path, oct(mode))


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Any]:
    """Makes a folder unwritable: chmod for a user, ``chattr +i`` for root (who ignores modes)."""
    made: list[Path] = []

    def make(folder: Path) -> None:
        if os.geteuid() != 0:
            folder.chmod(0o555)
        elif shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)],
                                                              capture_output=True).returncode != 0:
            pytest.skip("running as root and chattr +i is not available: no way to make a folder read-only")
        made.append(folder)

    yield make
    for folder in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        folder.chmod(0o755)


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_a_read_only_folder_is_reported_as_such(fmt: str, project: Path, tmp_path: Path, read_only: Any,
                                                capsys: pytest.CaptureFixture, fresh_plugins: None) -> None:
    out = tmp_path / "out"
    args = ("export", fmt, str(out), "--project", str(project))
    assert run_cli(capsys, *args, "--scope", SCOPE_A)[0] == 0
    before = tree(out)
    read_only(out)
    code, _, err = run_cli(capsys, *args, "--scope", SCOPE_B)
    line = assert_one_error(code, err, f"cannot write to the export folder {out}")
    assert "plugin" not in line and "failed while exporting" not in line
    assert tree(out) == before
    # A new folder inside a read-only one: the folder is named too.
    code, _, err = run_cli(capsys, "export", fmt, str(out / "sub"), "--project", str(project))
    assert_one_error(code, err, f"cannot create the export folder {out / 'sub'}")


def test_a_failed_plugin_export_leaves_the_previous_one_exactly(project: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                fresh_plugins: None) -> None:
    from detector_app.plugins_api import get_manager

    out = tmp_path / "out"
    assert run_cli(capsys, "export", "yolo", str(out), "--copy-images", "--project", str(project))[0] == 0
    user = add_user_files(out)
    before = tree(out)
    plugin = get_manager().format_plugin("yolo")
    real = type(plugin).write

    def half_way(self: Any, labels: Any, out_dir: Path, *args: Any) -> Path:
        real(self, labels, out_dir, *args)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(type(plugin), "write", half_way)
    code, _, err = run_cli(capsys, "export", "yolo", str(out), "--copy-images", "--project", str(project))
    lines = [line for line in err.splitlines() if line.startswith("error:")]  # (where the traceback goes: item 10)
    assert code == 2 and len(lines) == 1
    assert f"plugin 'yolo' failed while exporting: RuntimeError: disk on fire; nothing was written to {out}" in lines[0]
    assert tree(out) == before and not leftovers(out)
    assert_user_files(out, user)


# --- rows of an edited database ----------------------------------------------------------------------------


@pytest.mark.parametrize("stored", ["../outside.png", "pics/../../outside.png", "SECRET", "/dev/zero"])
@pytest.mark.parametrize("fmt", ["coco", "yolo"])
def test_a_row_pointing_outside_the_project_is_refused(stored: str, fmt: str, project: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture, fresh_plugins: None) -> None:
    secret = tmp_path / "secret.key"
    secret.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    write_image(tmp_path / "outside.png", 24, 16)
    stored = str(secret) if stored == "SECRET" else stored
    edit_db(project, f"UPDATE images SET path = '{stored}' WHERE id = 3")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "export", fmt, str(out), "--copy-images", "--scope", "all",
                           "--project", str(project))
    assert_one_error(code, err, "image 3", "nothing was written")
    assert not out.exists()


@pytest.mark.parametrize(("sql", "what"), [
    ("UPDATE images SET width = 9e999 WHERE id = 2", "image 2"),
    ("UPDATE images SET width = 'wide' WHERE id = 2", "image 2"),
    ("UPDATE annotations SET w = 9e999 WHERE id = 2", "annotation 2"),
    ("UPDATE annotations SET h = -9e999 WHERE id = 2", "annotation 2"),
    ("UPDATE annotations SET x = 'x' WHERE id = 2", "annotation 2"),
    ("UPDATE annotations SET h = -1 WHERE id = 2", "annotation 2"),
])
@pytest.mark.parametrize("fmt", ["coco", "yolo"])
def test_a_non_finite_row_is_refused_by_id(sql: str, what: str, fmt: str, project: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture, fresh_plugins: None) -> None:
    out = tmp_path / "out"
    args = ("export", fmt, str(out), "--scope", "all", "--project", str(project))
    assert run_cli(capsys, *args)[0] == 0
    user = add_user_files(out)
    before = tree(out)
    edit_db(project, sql)
    code, _, err = run_cli(capsys, *args)
    assert_one_error(code, err, what, "nothing was written")
    assert "plugin" not in err
    assert tree(out) == before
    assert_user_files(out, user)


def test_results_export_refuses_an_infinite_score(project: Path, tmp_path: Path) -> None:
    from detector_app.errors import StorageError
    from detector_app.transfer.exporting import export_coco_results

    edit_db(project, "UPDATE annotations SET origin = 'model', score = 9e999 WHERE id = 4")
    with Project.open(project) as p, pytest.raises(StorageError, match="annotation 4"):
        export_coco_results(p.repo, tmp_path / "results.json")
    assert not (tmp_path / "results.json").exists()


def test_check_target_reads_only(tmp_path: Path) -> None:
    assert target.check_target(tmp_path / "missing") is None and not (tmp_path / "missing").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportTargetError, match="is a file"):
        target.check_target(tmp_path / "file")
