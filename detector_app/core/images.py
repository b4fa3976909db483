"""The one rule for image files: which ones the app can use, and how they are decoded.

Import (``detector_app.storage.files.read_image_info``), image sources for detection
(``detector_app.sources.images``) and training (``detector_app.training.data``) all go through
:func:`check_image` / :func:`decode_image`, so a file is either usable everywhere or refused everywhere with
the same one-line reason. Only Pillow and numpy (OpenCV for high bit depths, imported when needed): no
database and no torch, so that every layer can use it.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from detector_app.errors import StorageError

if TYPE_CHECKING:
    import numpy as np

# Pillow's own decompression-bomb limit (twice Image.MAX_IMAGE_PIXELS): 12000 x 12000 passes, 30000 x 30000 not.
MAX_PIXELS = 2 * 89_478_485
# The longer side may be at most this many times the shorter one. Resized for the network (detection: shorter
# side >= 32 and longer side <= 53 at the smallest input size; training: longer side >= 32 x 0.8 with the
# default scale jitter) the shorter side then keeps at least one pixel; 1 x 100000 strips are refused.
MAX_ASPECT = 20
# Formats Pillow may open (others, such as EPS or PDF, run external programs or are not photos).
FORMATS = ("JPEG", "PNG", "BMP", "DIB", "WEBP", "TIFF", "GIF", "PPM")  # JPEG covers MPO (phone photos)
# Pillow decodes these high-bit-depth modes by clipping; OpenCV scales them to 8 bits, so they go through it.
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
_EXIF_ORIENTATION = 0x0112
_TRANSPOSE = {2: PILImage.Transpose.FLIP_LEFT_RIGHT, 3: PILImage.Transpose.ROTATE_180,
              4: PILImage.Transpose.FLIP_TOP_BOTTOM, 5: PILImage.Transpose.TRANSPOSE,
              6: PILImage.Transpose.ROTATE_270, 7: PILImage.Transpose.TRANSVERSE, 8: PILImage.Transpose.ROTATE_90}
# What Pillow's decoders raise on hostile or damaged files (besides OSError and its subclasses).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, KeyError,
                  TypeError, PILImage.DecompressionBombError)
_BAND_BYTES = 1 << 22  # pixels leave Pillow in bands of about 4 MB, never as one more full-size copy
# A file up to this size is read once, for its hash and for Pillow; a larger one is hashed in a second read.
_ONE_READ_BYTES = 1 << 26

# The rule caps the pixel count itself (MAX_PIXELS); Pillow's warning between its two limits is noise.
warnings.filterwarnings("ignore", category=PILImage.DecompressionBombWarning)


class UnusableImageError(StorageError):
    """An image file (or frame) the app cannot use. ``reason`` is one line, without the path.

    ``damaged``: the file itself cannot be read (not an image, truncated); otherwise it is readable but
    breaks the rule (too large, too thin, unsupported pixels).
    """

    def __init__(self, path: str | Path | None, reason: str, *, damaged: bool = False) -> None:
        self.path = None if path is None else str(path)
        self.reason = reason
        self.damaged = damaged
        what = "is not a readable image" if damaged else "cannot be used"
        super().__init__(f"{path} {what}: {reason}" if path is not None else reason)


@dataclass(frozen=True)
class CheckedImage:
    """A usable image file: its size as displayed and, when decoded, its BGR uint8 pixels."""

    width: int
    height: int
    rotated: bool  # EXIF orientation 5-8: the stored pixels are height x width
    pixels: np.ndarray | None = None
    sha256: str | None = None  # hex digest of the file, when asked for


def image_size_problem(width: int, height: int) -> str | None:
    """The size part of the rule: None when ``width`` x ``height`` is usable, else the reason."""
    if width < 1 or height < 1:
        return f"it has no pixels ({width} x {height})"
    if width * height > MAX_PIXELS:
        return _too_large(width * height)
    if max(width, height) > MAX_ASPECT * min(width, height):
        return (f"{width} x {height} pixels is too thin: resized for the model its shorter side would shrink to "
                f"(almost) nothing; the longer side may be at most {MAX_ASPECT} times the shorter one")
    return None


def _too_large(pixels: int) -> str:
    return (f"too large: {pixels / 1e6:.0f} megapixels, more than the {MAX_PIXELS / 1e6:.0f} megapixels allowed "
            f"(a decompression bomb?)")


def check_image(path: str | Path, *, decode: bool = False, digest: bool = False) -> CheckedImage:
    """THE rule: whether the app can use the image file ``path``, and its pixels when ``decode`` is set.

    Usable means: a non-empty file that Pillow identifies as one of FORMATS; at most MAX_PIXELS pixels; sides
    within MAX_ASPECT of each other (so the resized shorter side is at least one pixel); pixels of a
    supported kind; and the whole file intact for the decoder detection and training use (the one below).
    The size limits are checked on the header, before any pixel is decoded. Without ``decode`` the file is
    checked cheaply and no pixels are kept: a PNG by its structure (every chunk's CRC through IEND, so a
    damaged or truncated file fails; the deflate stream is inflated when the pixels are decoded), a JPEG by a
    decode at 1/8 scale (the whole entropy-coded stream is still read), other formats by a full decode.
    Anything else raises UnusableImageError with a one-line reason. ``digest`` adds the file's sha256,
    computed from the same read of the file (files up to 64 MB).
    """
    path = Path(path)
    sha256 = None
    try:
        size = path.stat().st_size
        if size == 0:
            raise UnusableImageError(path, "empty file (0 bytes)", damaged=True)
        data = path.read_bytes() if digest and size <= _ONE_READ_BYTES else None
        with PILImage.open(io.BytesIO(data) if data is not None else path, formats=FORMATS) as im:
            width, height = im.size
            orientation = _orientation(im)
            problem = image_size_problem(int(width), int(height))
            if problem:
                raise UnusableImageError(path, problem)
            pixels = _decode(im, path, orientation, keep=decode)
        if digest:
            sha256 = hashlib.sha256(data).hexdigest() if data is not None else file_sha256(path)
    except UnusableImageError:
        raise
    except FileNotFoundError:
        raise UnusableImageError(path, "file not found", damaged=True) from None
    except PILImage.DecompressionBombError as exc:  # Pillow's own limit, checked while opening
        found = re.search(r"\((\d+) pixels\)", str(exc))
        reason = _too_large(int(found.group(1))) if found else f"too large: {_one_line(exc)}"
        raise UnusableImageError(path, reason) from None
    except UnidentifiedImageError:
        raise UnusableImageError(path, "not an image (unknown or damaged format)", damaged=True) from None
    except OSError as exc:
        if exc.errno is not None:  # the file system, not the format
            raise UnusableImageError(path, f"cannot read it: {exc.strerror or exc}", damaged=True) from None
        raise UnusableImageError(path, f"cannot decode: {_one_line(exc)}", damaged=True) from None
    except _DECODE_ERRORS as exc:
        raise UnusableImageError(path, f"cannot decode: {_one_line(exc)}", damaged=True) from None
    rotated = orientation in (5, 6, 7, 8)
    if rotated:
        width, height = height, width
    return CheckedImage(int(width), int(height), rotated, pixels, sha256)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def decode_image(path: str | Path) -> np.ndarray:
    """BGR uint8 pixels (H x W x 3) of an image file as displayed (EXIF orientation applied), for detection
    and training; UnusableImageError when the rule (:func:`check_image`) refuses the file."""
    pixels = check_image(path, decode=True).pixels
    assert pixels is not None
    return pixels


def _decode(im: PILImage.Image, path: Path, orientation: int | None, keep: bool) -> np.ndarray | None:
    if im.mode == "F" or (im.mode == "I" and im.format == "TIFF"):
        kind = "floating-point" if im.mode == "F" else "integer"
        raise UnusableImageError(path, f"32-bit {kind} pixels are not supported; save it with 8 or 16 bits "
                                       f"per channel")
    if not keep and im.format == "PNG":
        # Import checks thousands of files: CRCs instead of inflating and unfiltering every pixel (6x faster).
        if im.mode not in _WIDE_MODES:
            PILImage.new(im.mode, (1, 1)).convert("RGB")  # a mode the decode below could not convert fails too
        im.verify()
        return None
    if im.mode in _WIDE_MODES:
        pixels = _decode_wide(path)  # checked by decoding it in full
        return pixels if keep else None
    if not keep and im.format == "JPEG":
        im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
    im.load()  # the full decode: a truncated or damaged stream fails here
    image = im.transpose(_TRANSPOSE[orientation]) if keep and orientation in _TRANSPOSE else im
    if image.mode != "RGB":
        image = image.convert("RGB")
    return _bgr(image) if keep else None


def _bgr(image: PILImage.Image) -> np.ndarray:
    """Pillow RGB -> contiguous BGR array, copied band by band (no second full-size copy of the pixels)."""
    import numpy as np  # here, not at the top: checking files (imports) keeps no pixels and starts without numpy

    width, height = image.size
    out = np.empty((height, width, 3), np.uint8)
    band = max(1, _BAND_BYTES // (3 * width))
    for top in range(0, height, band):
        bottom = min(height, top + band)
        rows = image.crop((0, top, width, bottom)).tobytes("raw", "BGR")
        out[top:bottom] = np.frombuffer(rows, np.uint8).reshape(bottom - top, width, 3)
    return out


def _decode_wide(path: Path) -> np.ndarray:
    import cv2  # imported here: only high bit-depth files need it
    import numpy as np

    # IMREAD_COLOR converts to 8-bit BGR and applies EXIF orientation itself.
    image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise UnusableImageError(path, "cannot decode this high bit-depth image", damaged=True)
    return image


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _orientation(im: PILImage.Image) -> int | None:
    if im.format == "PNG":
        # PIL's PNG getexif() decodes every pixel to reach an eXIf chunk stored after the image data;
        # an orientation tag that matters is written before it, in the header read by open().
        raw = im.info.get("exif")
        if not raw:
            return None
        exif = PILImage.Exif()
        exif.load(raw)
        return exif.get(_EXIF_ORIENTATION)
    return im.getexif().get(_EXIF_ORIENTATION)
