"""Safe image reading and atomic writing, and the PIL <-> tensor conversions.

Reading: EXIF orientation is applied (phone photos otherwise come out rotated), an embedded
ICC profile is converted to sRGB (a wide-gamut or CMYK photo otherwise comes out dull or
wrong: the network and every screen assume sRGB), every mode (greyscale, palette, CMYK,
16-bit) becomes 8-bit RGB, and Pillow's decompression-bomb guard stays on. HEIC/HEIF phone
photos are read when the optional ``pillow-heif`` package is installed (``brushwork[heif]``);
AVIF is read by Pillow itself where it was built with it. Any failure is a ``BrushworkError``
naming the file. The photo's EXIF, with the orientation reset (it has been applied), is kept in
``image.info["exif"]`` so that ``save_image(..., exif=...)`` can carry it to the output.

Writing: to a temporary file in the same folder, flushed and fsynced, then renamed over the
target, so a crash or a bad argument never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import io
import os
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
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif",
                  ".avif")
#: EXIF tag of the orientation (applied on reading, so reset to 1 in what is carried over).
_ORIENTATION = 0x0112
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_heif_registered: bool | None = None


class ImageTooLarge(BrushworkError):
    """The image has more pixels than Pillow's decompression-bomb guard allows."""


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


def load_image(path: str | Path) -> Image.Image:
    """Open an image file as 8-bit sRGB with EXIF orientation applied."""
    path = Path(path)
    if not path.is_file():
        raise BrushworkError(f"image not found: {path}")
    return _decode(path, str(path), path.suffix.lower())


def read_image(data: bytes, name: str = "image") -> Image.Image:
    """Decode an image held in memory (an upload, standard input), as ``load_image`` does.

    ``name`` only labels error messages ("upload.jpg: not an image ...").
    """
    if not data:
        raise BrushworkError(f"{name}: empty file, not an image")
    return _decode(io.BytesIO(data), name, Path(name).suffix.lower())


def _decode(source: Path | IO[bytes], name: str, suffix: str) -> Image.Image:
    heif = heif_available()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                image.load()
                exif = _exif_bytes(image)
                image = ImageOps.exif_transpose(image)
                rgb = _to_rgb(_to_srgb(image))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageTooLarge(f"{name}: image too large ({error})") from error
    except UnidentifiedImageError as error:
        hint = ""
        if suffix in (".heic", ".heif") and not heif:
            hint = " (HEIC needs pillow-heif: pip install 'brushwork[heif]')"
        raise BrushworkError(f"{name}: not an image Brushwork can read{hint}") from error
    except (OSError, ValueError, SyntaxError) as error:
        raise BrushworkError(f"{name}: cannot read image ({error})") from error
    rgb.info = {"exif": exif} if exif else {}
    return rgb


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
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
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


def atomic_write(path: str | Path, write: Callable[[IO], None]) -> None:
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
