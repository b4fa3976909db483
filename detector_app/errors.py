"""Errors a user can act on. The CLI prints their message on one line; the GUI shows it in a banner."""


class DetectorAppError(Exception):
    """Base class: the message is complete, user-facing and needs no traceback."""


class SourceError(DetectorAppError):
    """A frame source cannot be opened or read (missing file, no webcam, unsupported type)."""


class WeightsError(DetectorAppError):
    """Model weights are unavailable or do not fit the chosen architecture."""


class StorageError(DetectorAppError):
    """The project database cannot be opened, migrated or written."""


class StaleEditError(StorageError):
    """A box changed (or went) since the person's copy was loaded: their edit was refused, nothing written."""


class ImportValidationError(DetectorAppError):
    """An imported label file is malformed; nothing was written."""


class TrainingError(DetectorAppError):
    """Training cannot start or had to stop (empty set, bad checkpoint, non-finite loss)."""


class LabelSetError(ImportValidationError):
    """Labels read from a file cannot be imported; ``problems`` lists each one, and nothing was written."""

    SHOWN = 5  # the first problems are what a person reads

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = "; ".join(self.problems[:self.SHOWN])
        more = f"; and {len(self.problems) - self.SHOWN} more" if len(self.problems) > self.SHOWN else ""
        super().__init__(f"{source}: nothing was imported, {len(self.problems)} problem(s): {shown}{more}")
