"""Errors a user can act on. The CLI prints their message on one line; the GUI shows it in a banner."""


class DetectorAppError(Exception):
    """Base class: the message is complete, user-facing and needs no traceback."""


class SourceError(DetectorAppError):
    """A frame source cannot be opened or read (missing file, no webcam, unsupported type)."""


class WeightsError(DetectorAppError):
    """Model weights are unavailable or do not fit the chosen architecture."""


class StorageError(DetectorAppError):
    """The project database cannot be opened, migrated or written."""


class ImportValidationError(DetectorAppError):
    """An imported label file is malformed; nothing was written."""


class TrainingError(DetectorAppError):
    """Training cannot start or had to stop (empty set, bad checkpoint, non-finite loss)."""
