"""The correction rule, on hand-computed cases."""

from __future__ import annotations

import pytest

from detector_app.core.provenance import Action, Correction, box_iou, correction_action

PROPOSAL = (10.0, 10.0, 20.0, 20.0)


def test_box_iou_by_hand() -> None:
    assert box_iou(PROPOSAL, PROPOSAL) == 1.0
    # Shifted 10 px right: 10x20 overlap = 200, union 400 + 400 - 200 = 600.
    assert box_iou(PROPOSAL, (20.0, 10.0, 20.0, 20.0)) == pytest.approx(1 / 3)
    assert box_iou(PROPOSAL, (50.0, 50.0, 5.0, 5.0)) == 0.0
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


@pytest.mark.parametrize(("origin", "status", "bbox", "category", "expected"), [
    ("human", "accepted", (1, 1, 5, 5), 1, Correction(Action.DRAWN)),
    ("human", "rejected", (1, 1, 5, 5), 1, Correction(Action.DRAWN)),
    ("model", "predicted", PROPOSAL, 1, Correction(Action.PENDING)),
    ("model", "rejected", PROPOSAL, 1, Correction(Action.REJECTED)),
    ("model", "accepted", PROPOSAL, 1, Correction(Action.ACCEPTED, 1.0)),
    ("model", "accepted", (10.3, 9.8, 20.2, 20.0), 1, Correction(Action.ACCEPTED, 1.0)),  # within 0.5 px
    ("model", "corrected", (20.0, 10.0, 20.0, 20.0), 1, Correction(Action.ADJUSTED, pytest.approx(1 / 3))),
    ("model", "corrected", PROPOSAL, 2, Correction(Action.RELABELLED, 1.0)),
    ("model", "corrected", (20.0, 10.0, 20.0, 20.0), 2, Correction(Action.RELABELLED, pytest.approx(1 / 3))),
])
def test_each_kind_of_correction(origin: str, status: str, bbox: tuple[float, ...], category: int,
                                 expected: Correction) -> None:
    assert correction_action(origin, status, bbox, category, PROPOSAL, 1) == expected


def test_box_corrected_before_provenance_counts_as_adjusted_with_unknown_overlap() -> None:
    assert correction_action("model", "corrected", PROPOSAL, 1, None, None) == Correction(Action.ADJUSTED, None)
    assert correction_action("model", "accepted", PROPOSAL, 1, None, None) == Correction(Action.ACCEPTED, None)


def test_the_version_of_an_image_is_the_one_that_proposed_most_of_its_boxes() -> None:
    from detector_app.core.provenance import proposing_version

    assert proposing_version([]) is None
    assert proposing_version([1, 2, 2]) == 2
    assert proposing_version([1, 2]) == 2  # a tie goes to the newer version
    assert proposing_version([None, None, 3]) is None  # mostly a pretrained model's boxes
    assert proposing_version([None, 3]) == 3
