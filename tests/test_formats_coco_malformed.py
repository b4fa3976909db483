"""Malformed COCO files: each gives a clear one-line error naming the problem and leaves the project as it was."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from detector_app.errors import ImportValidationError
from detector_app.formats.coco_validate import CocoValidationError, validate_coco
from detector_app.storage import Project, label_import
from detector_app.transfer.importing import import_coco

from .helpers_storage import detections, dump_database, small_dataset, write_image

Mutation = Callable[[dict[str, Any]], None]


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, Path]:
    return small_dataset(tmp_path / "src", n_images=3, boxes_per_image=2)


@pytest.fixture
def project(project_dir: Path, tmp_path: Path) -> Iterator[Project]:
    """A project that already holds an image, a prediction and a category: a dump shows any change."""
    with Project.open(project_dir) as p:
        image = p.repo.add_image(write_image(tmp_path / "existing.png"))
        p.repo.add_predictions(image.id, detections([(1, 1, 20, 20)], [1]))
        yield p


def _set(section: str, index: int, key: str, value: Any) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        d[section][index][key] = value
    return mutate


def _drop(section: str, index: int, key: str) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        del d[section][index][key]
    return mutate


def _duplicate(section: str) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        d[section].append(copy.deepcopy(d[section][0]) | ({"file_name": "img_1.png"} if section == "images" else {}))
    return mutate


# (name, mutation of a valid dataset, text the error must contain)
CORPUS: list[tuple[str, Mutation, str]] = [
    ("missing images", lambda d: d.pop("images"), "missing key 'images'"),
    ("missing annotations", lambda d: d.pop("annotations"), "missing key 'annotations'"),
    ("images not a list", lambda d: d.update(images={"id": 1}), "'images' must be a list"),
    ("image entry not an object", lambda d: d["images"].append("img.png"), "images[3] must be an object"),
    ("image without id", _drop("images", 0, "id"), "images[0] has no 'id'"),
    ("image id is a string", _set("images", 1, "id", "101"), "images[1] id must be an integer"),
    ("image id is a boolean", _set("images", 1, "id", True), "images[1] id must be an integer"),
    ("duplicate image id", _duplicate("images"), "image id 100 is used twice"),
    ("duplicate annotation id", _duplicate("annotations"), "annotation id 500 is used twice"),
    ("duplicate category id", _set("categories", 1, "id", 3), "category id 3 is used twice"),
    ("duplicate category name", _set("categories", 1, "name", "cat"), "repeats the name 'cat'"),
    ("reserved category name", _set("categories", 0, "name", "__background__"), "reserved name"),
    ("annotation points at a missing image", _set("annotations", 2, "image_id", 999),
     "annotation id 502 image_id 999 is not a valid image"),
    ("annotation points at a missing category", _set("annotations", 3, "category_id", 42),
     "annotation id 503 category_id 42 is not a valid category"),
    ("negative width", _set("annotations", 0, "bbox", [1, 1, -5, 4]), "annotation id 500 bbox [1, 1, -5, 4]"),
    ("zero height", _set("annotations", 1, "bbox", [1, 1, 5, 0]), "must have positive width and height"),
    ("NaN coordinate", _set("annotations", 1, "bbox", [math.nan, 1, 5, 5]), "non-finite"),
    ("infinite size", _set("annotations", 1, "bbox", [1, 1, math.inf, 5]), "non-finite"),
    ("three numbers", _set("annotations", 0, "bbox", [1, 2, 3]), "bbox must be a list of four numbers"),
    ("string numbers", _set("annotations", 0, "bbox", ["1", "2", "3", "4"]), "bbox must be a list of four numbers"),
    ("box far outside the image", _set("annotations", 4, "bbox", [70, 50, 40, 30]), "far outside its 80x60 image"),
    ("box entirely outside", _set("annotations", 4, "bbox", [-500, -500, 10, 10]), "far outside"),
    ("iscrowd 2", _set("annotations", 0, "iscrowd", 2), "iscrowd must be 0 or 1"),
    ("negative image width", _set("images", 0, "width", -80), "'width' must be a positive integer"),
    ("fractional height", _set("images", 0, "height", 60.5), "'height' must be a positive integer"),
    ("missing image file", _set("images", 2, "file_name", "gone.png"), "file 'gone.png' not found"),
    ("file name escapes the folder", _set("images", 2, "file_name", "../instances.json"),
     "must be a path inside the image folder"),
    ("absolute file name", _set("images", 2, "file_name", "/etc/hostname"), "must be a path inside"),
    ("same file twice", _set("images", 1, "file_name", "img_0.png"), "repeats file_name 'img_0.png'"),
    ("same file by another name", _set("images", 1, "file_name", "./img_0.png"),
     "names the same file as image id 100"),
    ("size differs from the file", lambda d: d["images"][0].update(width=800, height=600),
     "is 80x60, not 800x600"),
    ("category name missing", _drop("categories", 0, "name"), "needs a non-empty string 'name'"),
    ("supercategory not a string", _set("categories", 0, "supercategory", 5), "'supercategory' must be a string"),
]


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))  # json writes NaN/Infinity literals, which json.loads accepts
    return path


def assert_refused(project: Project, json_path: Path, images_dir: Path, expected: str) -> CocoValidationError:
    before = dump_database(project.db_path)
    files_before = sorted(p.name for p in project.path.rglob("*"))
    with pytest.raises(ImportValidationError) as info:
        import_coco(project.repo, json_path, images_dir)
    message = str(info.value)
    assert "\n" not in message and expected in message, message
    assert dump_database(project.db_path) == before
    assert sorted(p.name for p in project.path.rglob("*")) == files_before
    assert isinstance(info.value, CocoValidationError)
    return info.value


def test_corpus_has_many_kinds_of_breakage() -> None:
    assert len(CORPUS) >= 10 and len({name for name, _, _ in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize(("name", "mutate", "expected"), CORPUS, ids=[c[0] for c in CORPUS])
def test_malformed_file_is_refused(name: str, mutate: Mutation, expected: str, source: tuple[Path, Path],
                                   project: Project) -> None:
    json_path, images_dir = source
    data = json.loads(json_path.read_text())
    mutate(data)
    assert_refused(project, _write(json_path, data), images_dir, expected)


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "not JSON"),
    (b'{"images": [', "not JSON"),
    (b"\xff\xfe\x00garbage", "cannot read it"),
    (b"[1, 2, 3]", "top level must be a JSON object"),
])
def test_unparseable_file_is_refused(content: bytes, expected: str, source: tuple[Path, Path],
                                     project: Project) -> None:
    json_path, images_dir = source
    json_path.write_bytes(content)
    assert_refused(project, json_path, images_dir, expected)


def test_missing_json_or_folder_is_refused(source: tuple[Path, Path], project: Project, tmp_path: Path) -> None:
    json_path, images_dir = source
    assert_refused(project, tmp_path / "none.json", images_dir, "file not found")
    assert_refused(project, json_path, tmp_path / "no-folder", "image folder")


def test_unreadable_image_file_is_refused(source: tuple[Path, Path], project: Project) -> None:
    json_path, images_dir = source
    (images_dir / "img_1.png").write_bytes(b"not a png")
    assert_refused(project, json_path, images_dir, "image id 101")


def test_report_names_the_first_problems_with_ids(source: tuple[Path, Path], project: Project) -> None:
    json_path, images_dir = source
    data = json.loads(json_path.read_text())
    for ann in data["annotations"]:
        ann["bbox"] = [0, 0, 0, 0]
    error = assert_refused(project, _write(json_path, data), images_dir, "(6 problems)")
    assert len(error.problems) == 6
    assert "annotation id 500" in str(error) and "and 1 more" in str(error)


def test_importing_the_same_file_twice_is_refused(source: tuple[Path, Path], project: Project) -> None:
    json_path, images_dir = source
    import_coco(project.repo, json_path, images_dir)
    assert_refused(project, json_path, images_dir, "annotation id 500 was already imported")


def test_failure_while_writing_rolls_everything_back(source: tuple[Path, Path], project: Project,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    json_path, images_dir = source
    before = dump_database(project.db_path)
    real, calls = label_import._annotation_columns, []

    def failing_columns(*args: Any) -> dict[str, list[Any]]:  # after the image rows were inserted
        calls.append(real(*args))
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(label_import, "_annotation_columns", failing_columns)
    with pytest.raises(OSError, match="simulated"):
        import_coco(project.repo, json_path, images_dir)
    assert calls and calls[0]["image_id"]  # the boxes were about to be written
    assert dump_database(project.db_path) == before


# --- generated files ----------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
COCO_KEYS = st.sampled_from(["images", "annotations", "categories", "id", "file_name", "width", "height",
                             "bbox", "image_id", "category_id", "name", "iscrowd"])
COCO_LIKE = st.recursive(
    JSON_VALUES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(COCO_KEYS, inner, max_size=6),
    max_leaves=30,
)
HYPOTHESIS = settings(max_examples=120, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@HYPOTHESIS
@given(data=st.one_of(JSON_VALUES, COCO_LIKE))
def test_generated_json_is_refused_cleanly(data: Any, source: tuple[Path, Path], project: Project,
                                           tmp_path: Path) -> None:
    _, images_dir = source
    assume(validate_coco(data, images_dir) != [])
    assert_refused(project, _write(tmp_path / "generated.json", data), images_dir, "cannot be imported")


BAD_IDS = st.one_of(st.none(), st.text(max_size=3), st.floats(), st.booleans(), st.integers(max_value=-1),
                    st.integers(min_value=2**63), st.lists(st.integers(), max_size=2))
BAD_BOXES = st.one_of(
    st.lists(st.floats(0, 10), max_size=3),
    st.tuples(st.floats(0, 10), st.floats(0, 10), st.floats(-50, 0), st.floats(1, 10)).map(list),
    st.tuples(st.floats(0, 10), st.floats(0, 10), st.floats(1, 10), st.floats(-50, 0)).map(list),
    st.tuples(st.floats(200, 1e9), st.floats(0, 10), st.floats(1, 10), st.floats(1, 10)).map(list),
    st.tuples(st.sampled_from([math.nan, math.inf, -math.inf]), st.floats(0, 10), st.just(5.0), st.just(5.0)).map(list),
    st.lists(st.text(max_size=2), min_size=4, max_size=4),
    st.tuples(st.integers(10**309, 10**320), st.just(0), st.just(1), st.just(1)).map(list),
)


@st.composite
def broken_datasets(draw: st.DrawFn) -> dict[str, Any]:
    """A valid dataset (3 images of 80x60, random boxes inside) with one generated breakage."""
    n = draw(st.integers(1, 8))
    boxes = draw(st.lists(st.tuples(st.floats(0, 60), st.floats(0, 40), st.floats(0.5, 20), st.floats(0.5, 20)),
                          min_size=n, max_size=n))
    data: dict[str, Any] = {
        "images": [{"id": 100 + i, "file_name": f"img_{i}.png", "width": 80, "height": 60} for i in range(3)],
        "categories": [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}],
        "annotations": [{"id": 500 + k, "image_id": 100 + k % 3, "category_id": 3, "bbox": list(box), "iscrowd": 0}
                        for k, box in enumerate(boxes)],
    }
    assert validate_coco(data) == []
    section = draw(st.sampled_from(["images", "annotations", "categories"]))
    entry = draw(st.sampled_from(data[section]))
    keys = {"images": ["id", "file_name", "width", "height"], "categories": ["id", "name"],
            "annotations": ["id", "image_id", "category_id", "bbox"]}[section]
    key = draw(st.sampled_from(keys))
    if key == "bbox":
        entry[key] = draw(BAD_BOXES)
    elif key in ("image_id", "category_id"):
        entry[key] = draw(st.one_of(BAD_IDS, st.integers(1000, 2000)))
    elif key == "file_name":
        entry[key] = draw(st.one_of(st.none(), st.just(""), st.just("missing.png"), st.just("../x.png")))
    elif key == "name":
        entry[key] = draw(st.one_of(st.none(), st.just(" "), st.integers()))
    else:
        entry[key] = draw(st.one_of(BAD_IDS, st.just(0)) if key in ("width", "height") else BAD_IDS)
    return data


@HYPOTHESIS
@given(data=broken_datasets())
def test_generated_breakage_is_refused(data: dict[str, Any], source: tuple[Path, Path], project: Project,
                                       tmp_path: Path) -> None:
    _, images_dir = source
    assert validate_coco(data, images_dir) != []
    assert_refused(project, _write(tmp_path / "generated.json", data), images_dir, "cannot be imported")
