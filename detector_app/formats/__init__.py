"""Label formats as pure codecs: files <-> :class:`~detector_app.core.labels.LabelSet`.

No database and no Qt here: a codec reads files into a label set or writes a label set into a folder.
Moving label sets in and out of a project, and publishing the folder safely, is ``detector_app.transfer``.
"""
