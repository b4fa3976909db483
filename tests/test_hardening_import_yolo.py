"""Hostile Ultralytics datasets (issue 17): a yaml, a list file or a label file that points outside the dataset
root, is not YAML, names its classes wrongly or holds a bad line is refused with one ``error:`` line through
the CLI; the project database and the user's files stay byte-identical, and nothing outside is opened."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .hardening_import_helpers import (
    assert_one_error_line,
    make_world,
    opened_under,
    opens,
    run_cli,
    unchanged,
)
from .helpers_storage import write_image


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    return make_world(tmp_path)


GOOD_YAML = "train: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n"


def ultralytics_dataset(root: Path, yaml_text: str = GOOD_YAML) -> Path:
    """images/{train,val} with labels/{train,val} and data.yaml; returns the yaml."""
    for split, name in (("train", "a"), ("val", "b")):
        write_image(root / "images" / split / f"{name}.png", 80, 60)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split / f"{name}.txt").write_text("0 0.5 0.5 0.25 0.25\n")
    (root / "data.yaml").write_text(yaml_text)
    return root / "data.yaml"


def _yaml(text: Callable[[Path], str]) -> Callable[[Path, Path], None]:
    def build(ds: Path, secret: Path) -> None:
        (ds / "data.yaml").write_text(text(secret))
    return build


def _list_file(line: Callable[[Path], str]) -> Callable[[Path, Path], None]:
    def build(ds: Path, secret: Path) -> None:
        (ds / "train.txt").write_text(f"images/train/a.png\n{line(secret)}\n")
        (ds / "data.yaml").write_text(GOOD_YAML.replace("train: images/train", "train: train.txt"))
    return build


def _label(text: str) -> Callable[[Path, Path], None]:
    def build(ds: Path, secret: Path) -> None:
        (ds / "labels" / "val" / "b.txt").write_bytes(text.encode("utf-8", "surrogateescape"))
    return build


def _symlinked_label(target: str) -> Callable[[Path, Path], None]:
    def build(ds: Path, secret: Path) -> None:
        (ds / "labels" / "val" / "b.txt").unlink()
        os.symlink(secret / target, ds / "labels" / "val" / "b.txt")
    return build


def _labels_linked_out(ds: Path, secret: Path) -> None:
    shutil.rmtree(ds / "labels")
    os.symlink(secret, ds / "labels")


def _fifo_list(ds: Path, secret: Path) -> None:
    os.mkfifo(ds / "train.txt")
    (ds / "data.yaml").write_text(GOOD_YAML.replace("train: images/train", "train: train.txt"))


CASES = [
    ("path up", _yaml(lambda s: "path: ../../secret\n" + GOOD_YAML), ["path:", "'..'", "--images DIR"]),
    ("path absolute outside", _yaml(lambda s: f"path: {s}\n" + GOOD_YAML), ["path:", "is outside"]),
    ("train up", _yaml(lambda s: GOOD_YAML.replace("images/train", "../../secret")), ["train:", "'..'"]),
    ("train absolute outside", _yaml(lambda s: GOOD_YAML.replace("images/train", str(s))), ["train:", "is outside"]),
    ("train not text", _yaml(lambda s: GOOD_YAML.replace("images/train", "{a: 1}")), ["train:", "must be text"]),
    ("train missing", _yaml(lambda s: GOOD_YAML.replace("images/train", "images/nothing")),
     ["train:", "neither a folder nor a list file"]),
    ("list line absolute", _list_file(lambda s: str(s / "real.png")), ["train.txt line 2", "is outside"]),
    ("list line up", _list_file(lambda s: "../../secret/real.png"), ["train.txt line 2", "'..'"]),
    ("list line dot up", _list_file(lambda s: "./../../secret/real.png"), ["train.txt line 2", "'..'"]),
    ("list line missing", _list_file(lambda s: "images/train/zz.png"), ["train.txt line 2", "no image file"]),
    ("list file is a FIFO", _fifo_list, ["train.txt", "neither a folder nor a list file"]),
    ("not YAML", _yaml(lambda s: "names: [cat, dog\n"), ["data.yaml", "not valid YAML"]),
    ("python tag", _yaml(lambda s: "!!python/object/apply:os.system ['true']\n"), ["not valid YAML"]),
    ("not a mapping", _yaml(lambda s: "- train\n- val\n"), ["must be a mapping"]),
    ("names with a gap", _yaml(lambda s: GOOD_YAML.replace("1: dog", "2: dog")), ["'names' must map the indexes"]),
    ("names nested", _yaml(lambda s: "train: images/train\nnames: [cat, [dog]]\n"), ["'names' must be a list"]),
    ("nc not a number", _yaml(lambda s: "train: images/train\nnc: many\n"), ["'nc' must be a whole number"]),
    ("no names", _yaml(lambda s: "train: images/train\nval: images/val\n"), ["no class names"]),
    ("bad label line", _label("0 0.5 0.5\n"), ["labels/val/b.txt: line 1", "got 3 values"]),
    ("class out of range", _label("0 0.5 0.5 0.1 0.1\n5 0.5 0.5 0.1 0.1\n"), ["b.txt: line 2", "class '5'"]),
    ("nan coordinate", _label("1 nan 0.5 0.1 0.1\n"), ["b.txt: line 1", "not a finite number"]),
    ("label not UTF-8", _label("0 0.5 0.5 0.1 0.1 \udcff\n"), ["b.txt", "not UTF-8"]),
    ("label symlink out", _symlinked_label("private.txt"), ["labels/val/b.txt", "leads outside"]),
    ("label symlink to a FIFO", _symlinked_label("pipe.png"), ["labels/val/b.txt"]),
    ("labels folder linked out", _labels_linked_out, ["images/train/a.png", "leads outside"]),
]


@pytest.mark.parametrize(("case", "build", "expected"), CASES, ids=[c[0] for c in CASES])
def test_hostile_ultralytics_dataset_is_refused_with_one_line(world: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                                              case: str, build: Callable[[Path, Path], None],
                                                              expected: list[str]) -> None:
    ds = world["root"] / "data" / "u8"
    data_yaml = ultralytics_dataset(ds)
    build(ds, world["secret"])
    with unchanged(world):
        code, _, err = run_cli(capsys, "import", "yolo", str(data_yaml), "--project", str(world["project"]))
    assert_one_error_line(code, err, *expected)


def test_an_image_symlinked_out_of_a_split_folder_is_never_listed(world: dict[str, Path],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    ds = world["root"] / "data" / "u8"
    data_yaml = ultralytics_dataset(ds)
    os.symlink(world["secret"] / "real.png", ds / "images" / "train" / "evil.png")
    (ds / "labels" / "train" / "evil.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with opens() as opened:
        code, out, err = run_cli(capsys, "import", "yolo", str(data_yaml), "--project", str(world["project"]))
    assert code == 0, err
    assert opened_under(opened, world["secret"]) == []
    assert "on 2 images (2 new)" in out  # a.png and b.png; evil.png leads outside and is skipped
