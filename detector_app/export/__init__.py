"""Label import and export formats (COCO built in; plugins add more through ``registry``)."""
