"""Property tests (hypothesis) for the importers and for path confinement (issue 11): whatever the input, an
import either succeeds or raises the one validation error, never another exception, and a refused import leaves
the project byte-identical; ``confine`` never returns a path outside its root."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector_app.core.names import is_unsafe_char, name_problem, printable
from detector_app.core.paths import UnsafePathError, confine
from detector_app.errors import ImportValidationError
from detector_app.storage import Project
from detector_app.transfer.importing import import_coco, import_labels

from .hardening_import_helpers import (
    HYPOTHESIS,
    VOC,
    YOLO,
    make_world,
    opened_under,
    opens,
    voc_dataset,
    yolo_dataset,
)
from .helpers_storage import dump_database


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    return make_world(tmp_path)

# --- property tests -------------------------------------------------------------------------------------------

PATH_PARTS = st.one_of(
    st.sampled_from(["..", ".", "", "in", "out", "loop", "a.png", "C:", "~", "x" * 256, "in/..", "\\", "//"]),
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec=None, categories=["Cc", "Cs", "Cf", "Zl", "Zs"]), max_size=3),
)
RELATIVE = st.lists(PATH_PARTS, min_size=0, max_size=6).flatmap(
    lambda parts: st.sampled_from(["/", "\\"]).map(lambda sep: sep.join(parts)))


@pytest.fixture
def confinement_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "in" / "deeper").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", root / "out")
    os.symlink(root / "in", root / "in" / "back")  # inside, and a cycle
    os.symlink("loop", root / "loop")  # a symlink loop
    return root


@HYPOTHESIS
@given(relative=st.one_of(RELATIVE, st.none(), st.integers(), st.binary(max_size=5)))
def test_confine_never_escapes(confinement_root: Path, relative: Any) -> None:
    real_root = confinement_root.resolve()
    try:
        path = confine(confinement_root, relative)
    except UnsafePathError as exc:
        assert not any(is_unsafe_char(c) for c in str(exc))
        return
    try:
        resolved = path.resolve()
    except RuntimeError:  # a symlink loop inside the root ('loop'): nothing there to open, and it stays inside
        resolved = Path(os.path.realpath(path))
    assert resolved == real_root or real_root in resolved.parents
    assert path == confinement_root / relative.replace("\\", "/")  # not rewritten: the caller's name is kept


HOSTILE_VALUES = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80), st.just(10**4000),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324, True, None, "", " "]),
    st.text(max_size=8), st.text(alphabet=st.characters(categories=["Cc", "Cs", "Cf", "Zl"]), min_size=1, max_size=4),
    st.sampled_from(["../x.png", "/etc/passwd", "x" * 300, "img_0.png", "img_1.png\x00", "__background__"]),
    st.recursive(st.integers(0, 3) | st.text(max_size=3), lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=3), inner, max_size=2), max_leaves=6),
)
MUTATION = st.tuples(st.sampled_from(["images", "annotations", "categories"]), st.integers(0, 5),
                     st.sampled_from(["id", "file_name", "width", "height", "image_id", "category_id", "bbox", "name",
                                      "supercategory", "iscrowd", "area", "segmentation"]),
                     st.one_of(st.just("<delete>"), HOSTILE_VALUES))


@HYPOTHESIS
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3), as_text=st.booleans())
def test_coco_import_of_mutated_datasets(world: dict[str, Path], mutations: list[Any], as_text: bool) -> None:
    """Either it imports, or it raises the validation error and the project is exactly as before."""
    data = json.loads(world["json"].read_text())
    for section, index, key, value in mutations:
        entry = data[section][index % len(data[section])]
        if value == "<delete>":
            entry.pop(key, None)
        else:
            entry[key] = copy.deepcopy(value)
    hostile = world["root"] / "hostile.json"
    try:
        text = json.dumps(data)
    except ValueError:  # an integer too long to write: the parser's limit is tested with the text itself
        text = world["json"].read_text().replace('"id": 101', '"id": ' + "8" * 4400)
    hostile.write_text(text, encoding="utf-8", errors="surrogatepass")
    with Project.open(world["project"]) as p:
        before = dump_database(p.path / "project.db")
        try:
            import_coco(p.repo, hostile, world["images"])
        except ImportValidationError as exc:
            assert "\n" not in printable(exc)
            assert dump_database(p.path / "project.db") == before
            return
    with Project.open(world["project"]) as p:  # it was valid: every name stored passes the rule
        assert all(name_problem(c.name) is None for c in p.repo.categories())


LABEL_TEXT = st.one_of(
    st.text(max_size=80),
    st.lists(st.tuples(st.sampled_from(["0", "1", "2", "-1", "99", "0x1", "١", "9" * 5000, "nan"]),
                       st.lists(st.sampled_from(["0.5", "0.25", "nan", "inf", "-1", "1e999", "0", "x", "1" * 400]),
                                min_size=3, max_size=8)).map(lambda t: " ".join([t[0], *t[1]])),
             max_size=4).map("\n".join),
)
XML_TEXT = st.one_of(
    st.text(max_size=80),
    st.tuples(st.text(max_size=12), st.text(max_size=12), st.text(max_size=12),
              st.lists(st.sampled_from(["1", "2.5", "-3", "nan", "1e999", "", "x", "79"]), min_size=4, max_size=4)
              ).map(lambda t: "<annotation><folder>{}</folder><filename>{}</filename><object><name>{}</name><bndbox>"
                              "<xmin>{}</xmin><ymin>{}</ymin><xmax>{}</xmax><ymax>{}</ymax></bndbox></object>"
                              "</annotation>".format(*(_xml_escape(v) for v in (*t[:3], *t[3])))),
)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@HYPOTHESIS
@given(label=LABEL_TEXT, classes=st.text(max_size=30), xml=XML_TEXT)
def test_yolo_and_voc_label_files_with_random_text(world: dict[str, Path], label: str, classes: str,
                                                   xml: str) -> None:
    yolo = yolo_dataset(world["root"] / "data" / "yolo", label, classes)
    voc = voc_dataset(world["root"] / "data" / "voc", "", "img_0.png")
    (voc / "Annotations" / "img_0.xml").write_text(xml, encoding="utf-8", errors="surrogatepass")
    for importer, dataset in ((YOLO.YoloFormat(), yolo), (VOC.VocFormat(), voc)):
        with opens() as opened, Project.open(world["project"]) as p:
            before = dump_database(p.path / "project.db")
            try:
                import_labels(p.repo, importer.name, dataset)
            except ImportValidationError as exc:
                assert "\n" not in printable(exc)
                assert dump_database(p.path / "project.db") == before
        assert opened_under(opened, world["secret"]) == []


