"""COCO import and export: the functions the CLI, GUI and training use.

The work is split by direction: ``coco_export`` (dataset and results files), ``coco_import`` (one
transaction after validation) and ``coco_validate`` (every check, no writes).
"""

from detector_app.export.coco_export import (
    DATASET_FILE,
    IMAGES_DIR,
    RESULTS_FILE,
    export_coco,
    export_coco_results,
)
from detector_app.export.coco_import import ImportReport, import_coco
from detector_app.formats.coco_validate import CocoValidationError, load_coco_json, validate_coco

__all__ = [
    "DATASET_FILE",
    "IMAGES_DIR",
    "RESULTS_FILE",
    "CocoValidationError",
    "ImportReport",
    "export_coco",
    "export_coco_results",
    "import_coco",
    "load_coco_json",
    "validate_coco",
]
