"""Safe image reading and atomic writing, and the PIL <-> tensor conversions.

Reading: EXIF orientation is applied (phone photos otherwise come out rotated), an embedded
ICC profile is converted to sRGB (a wide-gamut or CMYK photo otherwise comes out dull or
wrong: the network and every screen assume sRGB), every mode (greyscale, palette, CMYK,
16-bit) becomes 8-bit RGB, and an animated GIF or WebP gives its first frame (its frame count
is kept in ``image.info["frames"]`` so that callers can say so). HEIC/HEIF phone photos are
read when the optional ``pillow-heif`` package is installed (``brushwork[heif]``); AVIF is read
by Pillow itself where it was built with it. Any failure is a ``BrushworkError`` naming the
file. The photo's EXIF, with the orientation reset (it has been applied), is kept in
``image.info["exif"]`` so that ``save_image(..., exif=...)`` can carry it to the output.

Two guards run before any pixel is decoded, because a photo is untrusted input (an upload):

* Only the formats a photo comes in are opened (``INPUT_FORMATS``, Pillow's ``formats=``).
  Pillow knows some forty formats; each is a decoder an attacker could aim at, and EPS is
  handed to Ghostscript, an interpreter. ICO, PSD, TGA, PDF, SVG and the rest are refused with
  the list of what is read.
* A pixel limit (``max_pixels``; default ``DEFAULT_MAX_PIXELS``, or the environment variable
  ``BRUSHWORK_MAX_PIXELS``; ``--max-pixels`` on the command line): the size in the header is
  checked before decoding, so a 100-byte PNG claiming 60000x60000 pixels (a decompression
  bomb: 10 GB once decoded) costs nothing. Pillow's own bomb guard stays on above it.

Writing: to a temporary file in the same folder, flushed and fsynced, then renamed over the
target, so a crash or a bad argument never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import BrushworkError

#: Formats we write, by file suffix.
OUTPUT_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}
#: Formats we write, by the name given to ``--format`` or the HTTP API, with their suffix.
FORMAT_NAMES = {"jpg": ("JPEG", ".jpg"), "jpeg": ("JPEG", ".jpg"), "png": ("PNG", ".png"),
                "webp": ("WEBP", ".webp")}
#: MIME type of every format we write.
MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
#: Suffixes treated as photos when a folder is given.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic",
                  ".heif", ".avif")
#: Formats we read (Pillow's names): what cameras, phones and the web produce. A JPEG with a
#: second picture inside (many phone photos) opens as JPEG too (Pillow then calls it MPO).
INPUT_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")
#: Read only when their plugin is there: pillow-heif registers HEIF, Pillow >= 11.3 has AVIF.
OPTIONAL_INPUT_FORMATS = ("HEIF", "AVIF")
#: Default pixel limit: Pillow's own default (``Image.MAX_IMAGE_PIXELS``, 1 GiB of 24-bit
#: pixels / 4), kept so that every photo a camera or phone takes (up to ~50 MP, and 200-MP
#: phone sensors bin to 12 MP by default) is read; the decoded RGB is at most 256 MiB.
DEFAULT_MAX_PIXELS = 89_478_485
#: Highest pixel limit that can be set: Pillow refuses more than twice its own limit
#: outright (DecompressionBombError), whatever ours says.
HARD_MAX_PIXELS = 2 * DEFAULT_MAX_PIXELS
#: Environment variable that sets the pixel limit when none is passed.
MAX_PIXELS_ENV = "BRUSHWORK_MAX_PIXELS"
#: Modes we turn into RGB faithfully; anything else (float, LAB, HSV) is refused.
_MODES = {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr",
          "I", "I;16", "I;16L", "I;16B", "I;16N"}
_PIXELS = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmg]?)(?:p|px|pixels?)?\s*", re.IGNORECASE)
#: EXIF tag of the orientation (applied on reading, so reset to 1 in what is carried over).
_ORIENTATION = 0x0112
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_heif_registered: bool | None = None


class ImageTooLarge(BrushworkError):
    """The image has more pixels than the pixel limit (a decompression bomb, or just huge)."""


def parse_pixels(text: str) -> int:
    """'40000000', '40M', '40MP', '2.5k', '12 megapixels' -> a pixel count (powers of 1000).

    Raises ``BrushworkError`` for anything else, zero, or more than ``HARD_MAX_PIXELS``.
    """
    match = _PIXELS.fullmatch(text.replace("megapixels", "M").replace("megapixel", "M"))
    if not match:
        raise BrushworkError(f"not a number of pixels: {text!r} (write e.g. 40000000 or 40M)")
    value = int(float(match[1]) * {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[match[2].lower()])
    return check_max_pixels(value)


def check_max_pixels(value: int) -> int:
    """``value`` if it is a usable pixel limit, else a ``BrushworkError`` saying why."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BrushworkError(f"the pixel limit must be a positive whole number, not {value!r}")
    if value > HARD_MAX_PIXELS:
        raise BrushworkError(f"the pixel limit can be at most {HARD_MAX_PIXELS:,} (Pillow's "
                             f"decompression-bomb limit), not {value:,}")
    return value


def default_max_pixels() -> int:
    """The pixel limit when none is given: ``BRUSHWORK_MAX_PIXELS`` if set, else the default.

    Read on every call, so that a server or a test can change it without a restart.
    """
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        return parse_pixels(text)
    except BrushworkError as error:
        raise BrushworkError(f"{MAX_PIXELS_ENV}: {error}") from None


def input_formats() -> tuple[str, ...]:
    """Pillow format names we open: ``INPUT_FORMATS`` and the optional ones installed here."""
    heif_available()
    Image.init()
    # MPO has no entry of its own: the JPEG opener returns it (so it is kept for the message).
    return tuple(f for f in INPUT_FORMATS + OPTIONAL_INPUT_FORMATS if f in Image.OPEN)


def readable_formats_text() -> str:
    """'JPEG, PNG, WebP, GIF, TIFF, BMP, HEIC or AVIF': for error messages and help."""
    names = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF", "TIFF": "TIFF",
             "BMP": "BMP", "HEIF": "HEIC", "AVIF": "AVIF"}
    shown = [names[f] for f in input_formats() if f in names]
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def heif_available() -> bool:
    """Register pillow-heif's HEIC/HEIF reader once; False if it is not installed."""
    global _heif_registered
    if _heif_registered is None:
        try:
            from pillow_heif import register_heif_opener
        except ImportError:
            _heif_registered = False
        else:
            register_heif_opener()
            _heif_registered = True
    return _heif_registered


def load_image(path: str | Path, max_pixels: int | None = None) -> Image.Image:
    """Open an image file as 8-bit sRGB with EXIF orientation applied.

    ``max_pixels`` (default: ``default_max_pixels()``) bounds width x height, checked from
    the header before decoding; over it, ``ImageTooLarge``.
    """
    path = Path(path)
    if not path.is_file():
        raise BrushworkError(f"image not found: {path}")
    if path.stat().st_size == 0:
        raise BrushworkError(f"{path}: empty file, not an image")
    return _decode(path, str(path), path.suffix.lower(), max_pixels)


def read_image(data: bytes, name: str = "image", max_pixels: int | None = None) -> Image.Image:
    """Decode an image held in memory (an upload, standard input), as ``load_image`` does.

    ``name`` only labels error messages ("upload.jpg: not an image ...").
    """
    if not data:
        raise BrushworkError(f"{name}: empty file, not an image")
    return _decode(io.BytesIO(data), name, Path(name).suffix.lower(), max_pixels)


def _decode(
    source: Path | IO[bytes], name: str, suffix: str, max_pixels: int | None
) -> Image.Image:
    limit = default_max_pixels() if max_pixels is None else check_max_pixels(max_pixels)
    formats = input_formats()
    try:
        with warnings.catch_warnings():
            # Pillow warns from its own limit up; ours (checked below) decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source, formats=formats) as image:
                width, height = image.size
                if width * height > limit:
                    raise ImageTooLarge(f"{name}: {width}x{height} is {width * height:,} "
                                        f"pixels, over the limit of {limit:,}")
                if image.mode not in _MODES:
                    raise BrushworkError(f"{name}: {image.mode} images are not supported "
                                         "(greyscale, RGB, CMYK and palette images are)")
                frames = getattr(image, "n_frames", 1) if getattr(image, "is_animated",
                                                                  False) else 1
                image.load()
                exif = _exif_bytes(image)
                upright = ImageOps.exif_transpose(image)
                rgb = _to_rgb(_to_srgb(upright))
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(f"{name}: image too large: over Pillow's decompression-bomb limit "
                            f"of {HARD_MAX_PIXELS:,} pixels") from error
    except UnidentifiedImageError as error:
        hint = ""
        if suffix in (".heic", ".heif") and "HEIF" not in formats:
            hint = "; HEIC needs pillow-heif: pip install 'brushwork[heif]'"
        raise BrushworkError(f"{name}: not an image Brushwork can read (it reads "
                             f"{readable_formats_text()}{hint})") from error
    except BrushworkError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise BrushworkError(f"{name}: cannot read image ({_one_line(error)})") from error
    except Exception as error:  # a malformed file can trip any decoder: still the file's fault
        raise BrushworkError(f"{name}: cannot read image ({type(error).__name__}: "
                             f"{_one_line(error)})") from error
    rgb.info = {"exif": exif} if exif else {}
    if frames > 1:
        rgb.info["frames"] = frames
    return rgb


def _one_line(error: BaseException) -> str:
    """An exception's message on one line (an error line must stay one line)."""
    return " ".join(str(error).split()) or type(error).__name__


def _exif_bytes(image: Image.Image) -> bytes | None:
    """The image's EXIF with the orientation reset, or None (also for unreadable EXIF)."""
    try:
        exif = Image.Exif()  # a copy: the image's own EXIF still drives exif_transpose
        exif.load(image.getexif().tobytes())
        if not exif:
            return None
        if _ORIENTATION in exif:
            exif[_ORIENTATION] = 1
        return exif.tobytes()
    except Exception:  # broken EXIF must not make a good photo unreadable
        return None


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert from the embedded ICC profile to sRGB; without one, the pixels are sRGB already.

    A profile that cannot be parsed or applied is ignored (the pixels are used as they are),
    as browsers do: a damaged profile should not make a photo unreadable.
    """
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(profile).lower():
            return image
        mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, profile, _SRGB, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    return converted if converted is not None else image


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I;16"):  # always 0..65535, however dark the picture is
        array = np.asarray(image, dtype=np.float64)
        image = Image.fromarray((array / 65535.0 * 255).round().astype(np.uint8))
    elif image.mode == "I":  # 32-bit integers: no declared depth; a 16-bit range if used
        array = np.asarray(image, dtype=np.float64).clip(0, 65535)
        top = 65535.0 if array.max() > 255 else 255.0
        image = Image.fromarray((array / top * 255).round().astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> float tensor (1, 3, H, W) in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).unsqueeze(0).float().div(255.0)


def to_image(tensor: torch.Tensor) -> Image.Image:
    """Float tensor (1, 3, H, W) or (3, H, W), any range -> PIL RGB (clamped to [0, 1])."""
    if tensor.dim() == 4:
        tensor = tensor[0]
    array = tensor.detach().float().clamp(0, 1).mul(255).round().byte()
    return Image.fromarray(array.permute(1, 2, 0).cpu().numpy(), "RGB")


def output_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        valid = ", ".join(sorted(OUTPUT_FORMATS))
        raise BrushworkError(f"cannot tell the image format of {path}: use a suffix of {valid}")
    return OUTPUT_FORMATS[suffix]


@contextlib.contextmanager
def atomic_output(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of ``path``; on success fsync it and rename it into place.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise BrushworkError(f"output folder does not exist: {folder}")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        os.chmod(temporary, 0o666 & ~_UMASK)
        with os.fdopen(handle, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        _fsync_folder(folder)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def atomic_write(path: str | Path, write: Callable[[IO], object]) -> None:
    with atomic_output(path) as file:
        write(file)


def output_format_named(name: str) -> tuple[str, str]:
    """A format name (png, jpg, jpeg, webp; any case) -> (Pillow format, file suffix)."""
    key = name.lower().lstrip(".")
    if key not in FORMAT_NAMES:
        raise BrushworkError(f"unknown image format {name!r}: use png, jpg or webp")
    return FORMAT_NAMES[key]


def encode_image(
    image: Image.Image, fmt: str = "PNG", quality: int = 95, exif: bytes | None = None
) -> bytes:
    """``image`` encoded as ``fmt`` (a Pillow format name), with ``exif`` if given.

    The output carries no ICC profile: its pixels are sRGB, which every viewer assumes.
    """
    if fmt not in MIME_TYPES:
        raise BrushworkError(f"cannot write {fmt!r} images: use PNG, JPEG or WEBP")
    if not 1 <= quality <= 100:
        raise BrushworkError(f"quality must be from 1 to 100, not {quality}")
    options: dict = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    if exif:
        options["exif"] = exif
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def save_image(
    image: Image.Image, path: str | Path, quality: int = 95, exif: bytes | None = None
) -> None:
    """Write ``image`` atomically in the format its suffix names (and ``exif``, if given)."""
    fmt = output_format(path)
    data = encode_image(image, fmt, quality, exif)  # encode first: a failure writes nothing
    atomic_write(path, lambda file: file.write(data))
