"""Review and correction of labels: user intents become repository edits that can be undone. No Qt."""

from detector_app.review.edits import ClassEdit, ClassEditor, Edit, Reviewer

__all__ = ["ClassEdit", "ClassEditor", "Edit", "Reviewer"]
