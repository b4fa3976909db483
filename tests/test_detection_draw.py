"""Box drawing shared by the CLI's annotated video and the GUI's colours."""

from __future__ import annotations

import numpy as np

from detector_app.core.detections import Detections
from detector_app.core.draw import class_color, draw_detections, label_text

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


def test_nothing_to_draw_gives_an_equal_copy() -> None:
    image = np.full((10, 10, 3), 7, np.uint8)
    out = draw_detections(image, Detections.empty(NAMES))
    assert np.array_equal(out, image) and out is not image
