"""The shipped CVAT for images 1.1 plugin: the COCO round trip scored by pycocotools, the XML it writes (a task,
or a project when images have splits), and files laid out the way CVAT exports them."""

from __future__ import annotations

import json
from pathlib import Path

import defusedxml.ElementTree as SafeET
import numpy as np
import pytest
from PIL import Image

from detector_app.errors import ImportValidationError
from detector_app.storage import Project
from detector_app.transfer.exporting import export_labels
from detector_app.transfer.importing import import_labels

from .test_plugins_formats import coco_ap
from .test_plugins_labelme import make_project, round_trip

pytestmark = pytest.mark.usefixtures("fresh_plugins")


@pytest.mark.parametrize("copy_images", [False, True], ids=["images-in-place", "copied"])
def test_round_trip_scores_ap_1_and_keeps_crowd(shared_data: Path, tmp_path: Path, copy_images: bool) -> None:
    coco_tiny = shared_data / "coco-tiny"
    original = json.loads((coco_tiny / "instances.json").read_text())

    final, report = round_trip("cvat", coco_tiny, tmp_path, copy_images)

    assert len(final["annotations"]) == len(original["annotations"]) == 424
    crowd = sum(a["iscrowd"] for a in original["annotations"])
    assert crowd == 5 and sum(a["iscrowd"] for a in final["annotations"]) == crowd  # attribute is_crowd
    assert "polygons" not in report and "skipped" not in report
    assert [c["name"] for c in final["categories"]] == [c["name"] for c in original["categories"]]  # <labels>
    assert coco_ap(coco_tiny / "instances.json", tmp_path / "final" / "instances.json") == 1.0


def test_xml_is_a_cvat_task_or_a_project_with_subsets(tmp_path: Path) -> None:
    project, _images = make_project(tmp_path)
    with project:
        export_labels(project.repo, "cvat", tmp_path / "split", scope="all", copy_images=True)
        project.repo.set_split(project.repo.image_ids(), None)
        export_labels(project.repo, "cvat", tmp_path / "plain", scope="all")

    root = SafeET.parse(tmp_path / "plain" / "annotations.xml").getroot()
    assert root.findtext("version") == "1.1"
    assert [n.text for n in root.iterfind("meta/task/labels/label/name")] == ["unused", "cat", "crowd"]
    images = {i.get("name"): i for i in root.iterfind("image")}
    assert sorted(images) == ["a.png", "empty.png", "sub/b.jpg"]
    assert dict(images["a.png"].attrib) == {"id": "0", "name": "a.png", "width": "200", "height": "100"}
    box = images["a.png"].find("box")
    assert {k: box.get(k) for k in ("label", "xtl", "ytl", "xbr", "ybr", "occluded", "z_order")} == {
        "label": "cat", "xtl": "10", "ytl": "20", "xbr": "60", "ybr": "60.25", "occluded": "0", "z_order": "0"}
    assert images["sub/b.jpg"].find("box/attribute[@name='is_crowd']").text == "true"
    assert list(images["empty.png"]) == []

    split = SafeET.parse(tmp_path / "split" / "annotations.xml").getroot()
    assert [t.findtext("subset") for t in split.iterfind("meta/project/tasks/task")] == ["Train", "Validation",
                                                                                       "default"]
    assert [n.text for n in split.iterfind("meta/project/labels/label/name")] == ["unused", "cat", "crowd"]
    subsets = {i.get("name"): (i.get("subset"), i.get("task_id")) for i in split.iterfind("image")}
    assert subsets == {"a.png": ("Train", "0"), "empty.png": ("Validation", "1"), "b.jpg": ("default", "2")}
    assert sorted(p.name for p in (tmp_path / "split" / "images").iterdir()) == ["a.png", "b.jpg", "empty.png"]

    with Project.open(tmp_path / "again") as again:
        report = import_labels(again.repo, "cvat", tmp_path / "split")
        assert report.annotations_added == 2 and report.images_added == 3
        assert again.repo.split_counts() == {"train": 1, "val": 1, "test": 0, None: 1}


CVAT_TASK = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>7</id><name>street</name><size>3</size><mode>annotation</mode><overlap>0</overlap><bugtracker></bugtracker>
      <created>2024-05-01 10:00:00.000000+00:00</created><updated>2024-05-02 10:00:00.000000+00:00</updated>
      <subset>Train</subset><start_frame>0</start_frame><stop_frame>2</stop_frame><frame_filter></frame_filter>
      <segments><segment><id>9</id><start>0</start><stop>2</stop><url>http://localhost/?id=9</url></segment></segments>
      <owner><username>ann</username><email>ann@example.org</email></owner><assignee></assignee>
      <labels>
        <label><name>car</name><color>#fa3253</color><type>any</type><attributes>
          <attribute><name>parked</name><mutable>False</mutable><input_type>checkbox</input_type>
            <default_value>false</default_value><values>false
true</values></attribute></attributes></label>
        <label><name>person</name><color>#33ddff</color><type>any</type><attributes></attributes></label>
        <label><name>road</name><color>#24b353</color><type>any</type><attributes></attributes></label>
      </labels>
    </task>
    <dumped>2024-05-03 10:00:00.000000+00:00</dumped>
  </meta>
  <image id="0" name="frames/f0.jpg" width="120" height="90">
    <box label="car" source="manual" occluded="1" xtl="10.50" ytl="20.00" xbr="60.25" ybr="70.00" z_order="0">
      <attribute name="parked">true</attribute>
    </box>
    <polygon label="person" source="manual" occluded="0" points="5.00,5.00;25.00,8.00;15.00,40.00" z_order="1">
    </polygon>
    <polyline label="road" source="manual" occluded="0" points="0.00,80.00;119.00,85.00" z_order="0"></polyline>
    <points label="person" source="manual" occluded="0" points="50.00,50.00" z_order="0"></points>
    <ellipse label="person" source="manual" occluded="0" cx="80" cy="30" rx="5" ry="8" z_order="0"></ellipse>
    <tag label="road" source="manual"></tag>
  </image>
  <image id="1" name="frames/f1.jpg" width="120" height="90" subset="Validation">
    <box label="person" source="auto" occluded="0" xtl="0.00" ytl="0.00" xbr="30.00" ybr="45.00" z_order="0"/>
  </image>
  <image id="2" name="frames/f2.jpg" width="120" height="90"></image>
</annotations>
"""


def cvat_export(root: Path) -> Path:
    """A task as CVAT's "CVAT for images 1.1" export leaves it: annotations.xml and images/ (names with a
    folder), with every shape kind and the task's subset."""
    for i in range(3):
        (root / "images" / "frames").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((90, 120, 3), 40 * i, np.uint8)).save(root / "images" / "frames" / f"f{i}.jpg")
    (root / "annotations.xml").write_text(CVAT_TASK, encoding="utf-8")
    return root


def test_importing_a_task_cvat_exported(tmp_path: Path) -> None:
    data = cvat_export(tmp_path / "task")
    with Project.open(tmp_path / "project") as project:
        report = import_labels(project.repo, "cvat", data / "annotations.xml")
        repo = project.repo
        assert report.images_added == 3 and report.annotations_added == 3
        summary = report.summary()
        assert "1 polygons imported as their bounding boxes" in summary
        assert "4 shapes that are not boxes skipped (1 ellipse, 1 points, 1 polyline, 1 tag)" in summary
        assert [c.name for c in repo.categories()] == ["car", "person", "road"]
        assert repo.split_counts() == {"train": 2, "val": 1, "test": 0, None: 0}  # the task's, the image's own
        f0 = repo.find_image(data / "images" / "frames" / "f0.jpg")
        assert sorted((b.category_name, tuple(b.bbox)) for b in repo.annotations_for_image(f0.id)) == [
            ("car", (10.5, 20.0, 49.75, 50.0)), ("person", (5.0, 5.0, 20.0, 35.0))]


def test_a_bad_box_changes_nothing(tmp_path: Path) -> None:
    data = cvat_export(tmp_path / "task")
    xml = data / "annotations.xml"
    xml.write_text(CVAT_TASK.replace('xbr="30.00"', 'xbr="nan"'), encoding="utf-8")
    with Project.open(tmp_path / "project") as project:
        with pytest.raises(ImportValidationError, match=r"frames/f1.jpg.*'nan' is not a finite number"):
            import_labels(project.repo, "cvat", data)
        assert project.repo.count_annotations() == 0 and project.repo.categories() == []
