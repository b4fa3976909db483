"""Exports against crafted folders and crashes (issue 11, item 1): a hand-made manifest, journal or staging folder
never makes an export delete what it did not write, and SIGKILL at any moment leaves the previous export intact
or the new one complete, never a mix, never a staging folder after the next run.
"""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detector_app.formats import target
from detector_app.formats.target import JOURNAL, MANIFEST, STAGING_MARKER, STAGING_PREFIX, ExportTargetError
from detector_app.storage import Project
from detector_app.transfer.exporting import export_coco

from .conftest import REPO_ROOT
from .hardening_export_helpers import (
    SCOPE_B,
    add_user_files,
    assert_one_error,
    assert_user_files,
    export_state,
    leftovers,
    make_project,
    run_cli,
    tree,
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")

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
    # Kill within the shortest run seen: later runs are often quicker than the first ones (warm caches), and
    # with delays up to 1.2x the longest every run once finished before its kill.
    shortest = min(full["seconds"], _states.seconds)  # type: ignore[attr-defined]
    user = add_user_files(out)
    current = "a"
    rng = random.Random(11)
    outcomes = []
    for _ in range(10):
        args = b_args if current == "a" else a_args
        result = killer(args, kill_after=rng.uniform(0.0, shortest))
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

