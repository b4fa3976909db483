"""Box drawing (core/draw.py) shared by the CLI's annotated video and the GUI, in the colours of core/palette.py."""

from __future__ import annotations

import numpy as np

from detector_app.core.detections import Detections
from detector_app.core.draw import draw_detections, label_text
from detector_app.core.palette import class_color

NAMES = ("__background__", "person", "car")


def test_class_colours_are_stable_and_distinct() -> None:
    assert class_color("person") == class_color("person")
    colours = {class_color(n) for n in ("person", "car", "dog", "cat", "bicycle", "truck", "bus", "bird")}
    assert len(colours) == 8
    assert all(0 <= c <= 255 for rgb in colours for c in rgb)


def test_boxes_are_drawn_in_their_class_colour_with_a_tag() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    dets = Detections(np.array([[50, 60, 150, 180], [200, 20, 280, 100]]), np.array([0.87, 0.5]),
                      np.array([1, 2]), NAMES)

    out = draw_detections(image, dets)

    assert out is not image and not image.any()  # the input is left untouched
    r, g, b = class_color("person")
    assert tuple(out[120, 50]) == (b, g, r)  # left edge of the person box, BGR
    r, g, b = class_color("car")
    assert tuple(out[60, 280]) == (b, g, r)
    assert out[40:58, 52:120].any()  # the "person 0.87" tag above the box
    assert label_text("person", 0.8712) == "person 0.87"


def _bgr(name: str) -> tuple[int, int, int]:
    r, g, b = class_color(name)
    return b, g, r


def _outline(out: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The pixels on the four edges of ``box`` (x1, y1, x2, y2), corners included."""
    x1, y1, x2, y2 = box
    return np.concatenate([out[y1, x1:x2 + 1], out[y2, x1:x2 + 1], out[y1:y2 + 1, x1], out[y1:y2 + 1, x2]])


def test_each_box_outline_is_its_class_colour_and_only_the_outline_and_tag_are_drawn() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    person, car = (50, 60, 150, 180), (200, 20, 280, 100)
    dets = Detections(np.array([person, car]), np.array([0.87, 0.5]), np.array([1, 2]), NAMES)

    out = draw_detections(image, dets, thickness=2)

    assert _bgr("person") != _bgr("car")  # two classes, two colours of the one palette
    for name, box in (("person", person), ("car", car)):
        edge = _outline(out, box)
        assert (edge == _bgr(name)).all(axis=1).all(), f"{name} outline not entirely in its class colour"
        x1, y1, x2, y2 = box
        assert not out[y1 + 3:y2 - 2, x1 + 3:x2 - 2].any()  # the inside of the box is left as it was
    drawn = out.any(axis=2)
    drawn[55:186, 45:156] = False  # the person box and its outline
    drawn[15:106, 195:286] = False  # the car box and its outline
    drawn[:60, 45:140] = False  # the person tag above its box
    drawn[:20, 195:275] = False  # the car tag above its box
    assert not drawn.any()  # nothing else is painted


def test_the_tag_is_a_block_of_the_class_colour_with_text_in_it() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    dets = Detections(np.array([[50, 60, 150, 180]]), np.array([0.87]), np.array([1]), NAMES)

    out = draw_detections(image, dets, thickness=2)

    tag = out[46:59, 51:125].reshape(-1, 3)  # inside the tag, above the box's top edge
    in_colour = (tag == _bgr("person")).all(axis=1)
    assert in_colour.mean() > 0.5  # a filled block of the class colour above the box...
    assert (~in_colour & tag.any(axis=1)).sum() > 20  # ...with ink of another colour: the text
    blank = draw_detections(image, Detections(np.array([[50, 60, 150, 180]]), np.array([0.87]), np.array([2]),
                                              NAMES), thickness=2)
    assert not np.array_equal(blank[46:59, 51:125], out[46:59, 51:125])  # another class, another tag


def test_nothing_to_draw_gives_an_equal_copy() -> None:
    image = np.full((10, 10, 3), 7, np.uint8)
    out = draw_detections(image, Detections.empty(NAMES))
    assert np.array_equal(out, image) and out is not image
