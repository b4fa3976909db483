"""The class list in SQLite: add, rename, merge, delete, reorder, recolour, and undo/redo of each (ClassEditor)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from detector_app.core.names import InvalidNameError
from detector_app.core.palette import class_color, use_stored_colors
from detector_app.errors import StorageError
from detector_app.review import ClassEditor
from detector_app.storage import categories
from detector_app.storage.repository import Repository

from .backends import ProjectSource, dump_project
from .helpers_storage import write_image


@pytest.fixture
def repo(project_source: ProjectSource) -> Iterator[Repository]:
    """An empty project, once as an SQLite folder and once on PostgreSQL."""
    with project_source.open() as p:
        yield p.repo


def table(repo: Repository) -> list[tuple]:
    """The class list as the user sees it: (name, coco id, colour)."""
    return [(c.name, c.coco_id, c.color) for c in repo.categories()]


def box_classes(repo: Repository, image_id: int) -> list[tuple[str, str]]:
    return [(a.category_name, a.status) for a in repo.annotations_for_image(image_id)]


@pytest.fixture
def image_id(repo: Repository, tmp_path: Path) -> int:
    return repo.add_image(write_image(tmp_path / "a.png", 100, 80)).id


def test_classes_defined_up_front_keep_their_coco_ids(repo: Repository) -> None:
    for name in ("cat", "dog", "bird"):
        repo.add_category(name)
    assert [(n, i) for n, i, _ in table(repo)] == [("cat", 1), ("dog", 2), ("bird", 3)]
    with pytest.raises(StorageError, match="already exists"):
        repo.add_category("dog")
    with pytest.raises(InvalidNameError):
        repo.add_category("  ")
    ids = {c.name: c.id for c in repo.categories()}
    repo.set_category_order([ids["bird"], ids["cat"], ids["dog"]])
    repo.add_category("fish")  # a new class goes last and takes the next COCO id; nothing shifts
    assert [(n, i) for n, i, _ in table(repo)] == [("bird", 3), ("cat", 1), ("dog", 2), ("fish", 4)]
    with pytest.raises(StorageError, match="every class exactly once"):
        repo.set_category_order([ids["bird"], ids["cat"]])


def test_rename_recolor_and_refusals_leave_the_database_unchanged(repo: Repository, project_dir: Path) -> None:
    cat, dog = repo.add_category("cat"), repo.add_category("dog", "#123456")
    assert table(repo)[1] == ("dog", 2, "#123456")
    repo.rename_category(cat.id, "kitten")
    repo.set_category_color(cat.id, "#ABCDEF")
    assert table(repo)[0] == ("kitten", 1, "#abcdef")
    before = dump_project(repo.engine)
    with pytest.raises(StorageError, match="merge the two classes"):
        repo.rename_category(cat.id, "dog")
    with pytest.raises(StorageError, match="#rrggbb"):
        repo.set_category_color(dog.id, "red")
    with pytest.raises(StorageError, match="not in the project"):
        repo.rename_category(999, "x")
    assert dump_project(repo.engine) == before


def test_a_rename_racing_another_clients_gets_the_same_message(repo: Repository,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Two clients renaming classes to one name at once (PostgreSQL, READ COMMITTED): both checks pass, the
    unique rule refuses the second write, and its user reads the same sentence as for a plain clash."""
    cat = repo.add_category("cat")
    repo.add_category("dog")
    before = dump_project(repo.engine)
    monkeypatch.setattr(categories, "_name_taken", lambda *_args: False)  # checked before the other committed
    with pytest.raises(StorageError, match="already exists: merge the two classes"):
        repo.rename_category(cat.id, "dog")
    assert dump_project(repo.engine) == before


def test_delete_refuses_a_class_with_boxes_and_merge_moves_them(repo: Repository, image_id: int,
                                                                 project_dir: Path) -> None:
    cat, dog, empty = repo.add_category("cat"), repo.add_category("dog"), repo.add_category("empty")
    repo.add_annotation(image_id, "cat", (1, 1, 10, 10))
    repo.add_annotation(image_id, "cat", (5, 5, 10, 10), origin="model", status="predicted", score=0.7)
    repo.add_annotation(image_id, "dog", (20, 20, 10, 10))
    assert repo.category_boxes(cat.id) == {"predicted": 1, "accepted": 1, "corrected": 0, "rejected": 0}
    before = dump_project(repo.engine)
    with pytest.raises(StorageError, match="still has 2 boxes"):
        repo.delete_category(cat.id)
    assert dump_project(repo.engine) == before
    repo.delete_category(empty.id)
    assert repo.merge_categories(cat.id, dog.id) == 2
    assert sorted(box_classes(repo, image_id)) == [("dog", "accepted"), ("dog", "accepted"), ("dog", "predicted")]
    assert [(n, i) for n, i, _ in table(repo)] == [("dog", 2)]
    with pytest.raises(StorageError, match="into itself"):
        repo.merge_categories(dog.id, dog.id)


def test_every_class_edit_undoes_and_redoes_exactly(repo: Repository, image_id: int, project_dir: Path) -> None:
    """Undo gives every row back (a box's revision and author aside: they move forward, see test_storage_team_edits)."""
    editor = ClassEditor(repo)
    states = [dump_project(repo.engine, bookkeeping=False)]
    edits = [editor.add("cat"), editor.add("dog"), editor.add("bird")]
    states += [None, None, dump_project(repo.engine, bookkeeping=False)]
    ids = {c.name: c.id for c in repo.categories()}
    repo.add_annotation(image_id, "cat", (1, 1, 10, 10))
    repo.add_annotation(image_id, "cat", (2, 2, 10, 10), origin="model", status="predicted", score=0.5)
    states[-1] = dump_project(repo.engine, bookkeeping=False)  # the boxes are not part of the class edits being undone below
    for step in (lambda: editor.rename(ids["bird"], "parrot"), lambda: editor.recolor(ids["dog"], "#00ff00"),
                 lambda: editor.reorder([ids["bird"], ids["dog"], ids["cat"]]),
                 lambda: editor.merge(ids["cat"], ids["dog"]), lambda: editor.delete(ids["bird"])):
        edits.append(step())
        states.append(dump_project(repo.engine, bookkeeping=False))
    assert [(n, i) for n, i, _ in table(repo)] == [("dog", 2)]
    assert box_classes(repo, image_id) == [("dog", "accepted"), ("dog", "predicted")]
    for k in range(len(edits) - 1, 2, -1):  # undo back to the three plain classes
        editor.undo(edits[k])
        assert dump_project(repo.engine, bookkeeping=False) == states[k], edits[k].text
    assert [(n, i) for n, i, _ in table(repo)] == [("cat", 1), ("dog", 2), ("bird", 3)]
    for k in range(3, len(edits)):
        editor.redo(edits[k])
        assert dump_project(repo.engine, bookkeeping=False) == states[k + 1], edits[k].text


def test_undo_of_an_added_class_refuses_when_it_has_boxes(repo: Repository, image_id: int) -> None:
    editor = ClassEditor(repo)
    edit = editor.add("cat")
    repo.add_annotation(image_id, "cat", (1, 1, 10, 10))
    with pytest.raises(StorageError, match="has boxes again"):
        editor.undo(edit)
    assert [c.name for c in repo.categories()] == ["cat"]


def test_stored_colours_win_in_the_palette(repo: Repository) -> None:
    default = class_color("cat")
    repo.add_category("cat", "#102030")
    try:
        use_stored_colors({c.name: c.color for c in repo.categories()})
        assert class_color("cat") == (0x10, 0x20, 0x30)
        assert class_color("dog") != (0x10, 0x20, 0x30)
    finally:
        use_stored_colors({})
    assert class_color("cat") == default
