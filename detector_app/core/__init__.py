"""The label model and the plain data types every layer shares (detections, names, paths, palette).

Nothing is re-exported here: import from the module that holds a name, so that importing one rule does not
load numpy for another.
"""
