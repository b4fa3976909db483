"""The one palette: a stable, well-separated colour per class name, the same in the GUI, in drawn videos
and in a new project's category rows (a person may recolour a class; the stored colour wins then)."""

from __future__ import annotations

import colorsys
import zlib

_GOLDEN = 0.618033988749895


def class_color(name: str) -> tuple[int, int, int]:
    """RGB. The hue steps by the golden ratio from a hash of the name, so similar names still differ."""
    hue = (zlib.crc32(name.encode("utf-8", "surrogatepass")) * _GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def class_color_hex(name: str) -> str:
    return "#{:02x}{:02x}{:02x}".format(*class_color(name))


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
