"""Review and correction of labels: user intents become repository edits that can be undone. No Qt."""

from detector_app.review.edits import Edit, Reviewer

__all__ = ["Edit", "Reviewer"]
