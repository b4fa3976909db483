"""Who is editing: the annotator's name every edit records (``annotations.updated_by``, ``images.reviewed_by``).

One rule, used by the CLI (``--annotator NAME``), the GUI (its settings) and the repository's default: a name
given explicitly, else ``$DETECTOR_APP_ANNOTATOR``, else the operating-system user. A name follows the same rule
as a class name (``core.names``): no control characters, at most ``MAX_ANNOTATOR_LENGTH`` characters.
"""

from __future__ import annotations

import getpass
import os

from detector_app.core.names import InvalidNameError, check_name

ANNOTATOR_ENV = "DETECTOR_APP_ANNOTATOR"
MAX_ANNOTATOR_LENGTH = 64
FALLBACK_ANNOTATOR = "annotator"  # no configured name and no OS user (a container without a passwd entry)


def check_annotator(name: object) -> str:
    """``name`` stripped; raises ``InvalidNameError`` (a ``DetectorAppError``) when it cannot be an annotator."""
    checked = check_name(name, "an annotator name")
    if len(checked) > MAX_ANNOTATOR_LENGTH:
        raise InvalidNameError(f"an annotator name must be at most {MAX_ANNOTATOR_LENGTH} characters, "
                               f"not {len(checked)}")
    return checked


def os_user() -> str:
    """The operating-system user, or ``FALLBACK_ANNOTATOR`` when there is none to be found."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no LOGNAME/USER and no passwd entry for the uid
        return FALLBACK_ANNOTATOR
    try:
        return check_annotator(user)
    except ValueError:
        return FALLBACK_ANNOTATOR


def annotator_name(configured: str | None = None) -> str:
    """The name to record: ``configured`` (checked) when given and not blank, else the environment, else the OS
    user. A malformed configured name is refused rather than replaced: the person meant to set one."""
    if configured is not None and configured.strip():
        return check_annotator(configured)
    from_env = os.environ.get(ANNOTATOR_ENV, "")
    if from_env.strip():
        return check_annotator(from_env)
    return os_user()
