"""Ultralytics' own dataset loader reads our YOLO export, and reads the datasets we import the way we do.

Runs ``tests/peer_readers/read_ultralytics.py`` in the peer venv (``tests/peers.py`` builds it on first use),
once for both datasets: importing Ultralytics (and torch) takes 5-15 s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from detector_app.storage import Project
from detector_app.transfer.exporting import export_labels
from detector_app.transfer.importing import import_coco, import_labels

from .peers import run_reader
from .test_plugins_yolo import coco8_like


@pytest.fixture(scope="module")
def read_back(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Our export of coco-tiny (6 images in val, 3 in test) and a coco8-like dataset, both read by Ultralytics."""
    from detector_app.plugins_api import reset_manager

    work = tmp_path_factory.mktemp("ultralytics")
    with pytest.MonkeyPatch.context() as patch:  # the function-scoped app home is not set up yet
        patch.setenv("DETECTOR_APP_HOME", str(work / "app-home"))
        reset_manager()
        try:
            return _read_back(shared_data, work)
        finally:
            reset_manager()


def _read_back(shared_data: Path, work: Path) -> dict[str, Any]:
    coco_tiny = shared_data / "coco-tiny"
    with Project.open(work / "p") as project:
        import_coco(project.repo, coco_tiny / "instances.json", coco_tiny / "images")
        ids = [i.id for i in project.repo.list_images(limit=100)]
        project.repo.set_split(ids[:6], "val")
        project.repo.set_split(ids[6:9], "test")
        data_yaml = export_labels(project.repo, "yolo", work / "out", scope="all")
    yaml_file = coco8_like(work / "c8")
    # Ultralytics resolves a relative path: against its own datasets folder; an absolute one reads the same.
    yaml_file.write_text(yaml_file.read_text().replace("path: coco8", f"path: {work / 'c8' / 'coco8'}"))
    results = run_reader("read_ultralytics.py", data_yaml, yaml_file)
    return {"export": results[str(data_yaml)], "out": work / "out", "coco8": results[str(yaml_file)],
            "coco8_yaml": yaml_file}


@pytest.mark.usefixtures("fresh_plugins")
def test_ultralytics_finds_every_image_of_our_export_with_its_labels(shared_data: Path,
                                                                      read_back: dict[str, Any]) -> None:
    original = json.loads((shared_data / "coco-tiny" / "instances.json").read_text())
    found, out = read_back["export"], read_back["out"]

    assert found["names"] == [c["name"] for c in sorted(original["categories"], key=lambda c: c["id"])]
    splits = found["splits"]
    assert {k: v["images"] for k, v in splits.items()} == {"train": 29, "val": 6, "test": 3}
    for split, counts in splits.items():
        assert counts["labels_found"] == counts["images"], split  # every image paired with its label file
        assert (counts["missing"], counts["corrupt"], counts["messages"]) == (0, 0, []), split
    crowd = sum(a["iscrowd"] for a in original["annotations"])
    assert sum(v["boxes"] for v in splits.values()) == len(original["annotations"]) - crowd
    # What Ultralytics loaded is what we wrote, box for box.
    for split, counts in splits.items():
        for image, boxes in counts["files"].items():
            label = out / "labels" / split / Path(image).with_suffix(".txt").name
            written = [[int(r[0]), *(round(float(v), 6) for v in r[1:])]
                       for r in (line.split() for line in label.read_text().splitlines())]
            assert boxes == written, image


@pytest.mark.usefixtures("fresh_plugins")
def test_a_dataset_in_ultralytics_layout_is_read_by_us_as_ultralytics_reads_it(tmp_path: Path,
                                                                                read_back: dict[str, Any]) -> None:
    theirs, yaml_file = read_back["coco8"], read_back["coco8_yaml"]

    with Project.open(tmp_path / "p") as project:
        import_labels(project.repo, "yolo", yaml_file, None)
        ours: dict[str, list[int]] = {}
        for image in project.repo.list_images(limit=100):
            ours.setdefault(image.split, []).append(len(project.repo.annotations_for_image(image.id)))
    assert {k: (v["images"], v["boxes"]) for k, v in theirs["splits"].items()} == {
        k: (len(v), sum(v)) for k, v in ours.items()} == {"train": (2, 3), "val": (2, 1)}
    assert theirs["names"] == ["person", "bicycle", "traffic light"]
