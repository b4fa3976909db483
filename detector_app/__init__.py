"""Object detection and annotation: RetinaNet inference, label review, fine-tuning, COCO export.

Only :mod:`detector_app.ui` imports Qt; everything else runs headless (CLI, tests, training).
"""

__version__ = "0.1.0"
APP_NAME = "detector-app"
