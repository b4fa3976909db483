"""Frame sources: webcams, video files, image folders and single images, behind one interface."""

from detector_app.sources.base import Frame, FrameSource
from detector_app.sources.factory import open_source

__all__ = ["Frame", "FrameSource", "open_source"]
