"""Object tracks across video frames and live overlays that follow them between detector results.

``Tracker`` gives each detection a track id (supervision's ByteTrack behind a thin adapter);
``OverlayPredictor`` turns slow detector results into boxes for every captured frame.
"""

from detector_app.tracking.overlay import MODES, OverlayBox, OverlayPredictor
from detector_app.tracking.tracker import NO_TRACK, Tracked, Tracker, TrackerConfig

__all__ = ["MODES", "NO_TRACK", "OverlayBox", "OverlayPredictor", "Tracked", "Tracker", "TrackerConfig"]
