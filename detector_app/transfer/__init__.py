"""Labels in and out of a project: a format's codec, the repository's label sets, and a safe output folder.

``import_labels`` reads a file with a codec (validated, paths confined), checks every image file, then
writes the label set in one transaction. ``export_labels`` takes a label set out of the repository, has the
codec write it into a staging folder and publishes that folder without touching files the app did not write.
"""
