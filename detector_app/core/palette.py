"""The one palette: a stable, well-separated colour per class name, the same in the GUI, in drawn videos
and in a new project's category rows (a person may recolour a class; the stored colour wins then)."""

from __future__ import annotations

import colorsys
import zlib
from collections.abc import Mapping

_GOLDEN = 0.618033988749895

# The open project's stored colours (categories.color) by class name: they win over the hashed ones.
_stored: dict[str, tuple[int, int, int]] = {}


def use_stored_colors(colors: Mapping[str, str]) -> None:
    """Make ``class_color`` answer with these ``#rrggbb`` colours (the project's classes); unreadable ones are
    skipped. Called whenever a project opens or a class is recoloured, renamed or added."""
    _stored.clear()
    for name, color in colors.items():
        rgb = hex_to_rgb(color)
        if rgb is not None:
            _stored[name] = rgb


def class_color(name: str) -> tuple[int, int, int]:
    """RGB: the stored colour of the class when the open project has one, else the default below."""
    return _stored.get(name) or default_class_color(name)


def default_class_color(name: str) -> tuple[int, int, int]:
    """The hue steps by the golden ratio from a hash of the name, so similar names still differ."""
    hue = (zlib.crc32(name.encode("utf-8", "surrogatepass")) * _GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def class_color_hex(name: str) -> str:
    """The colour a new class row is stored with."""
    return "#{:02x}{:02x}{:02x}".format(*default_class_color(name))


def hex_to_rgb(color: str) -> tuple[int, int, int] | None:
    """``#rrggbb`` -> RGB, None for anything else (a stored colour edited by hand)."""
    text = color.strip().lstrip("#")
    if len(text) != 6:
        return None
    try:
        value = int(text, 16)
    except ValueError:
        return None
    return (value >> 16) & 255, (value >> 8) & 255, value & 255
