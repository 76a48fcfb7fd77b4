"""The styles the server offers (built-in, ``--model`` files, uploads and mixes of them) and the
models loaded for them.

Models are loaded once per style and kept (a small LRU cache), because reading and building the
network costs more than painting a small photo. Uploaded model files live in a temporary
folder owned by the server, named by their SHA-256, so uploading the same file twice gives
the same style id.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import api, mixing
from ..api import DEFAULT_STYLE, Stylizer
from ..errors import BrushworkError, quoted
from .settings import ServerSettings


class UnknownStyle(BrushworkError):
    """No built-in style, --model file or upload has this id."""


@dataclass
class Style:
    """A style the server offers: a built-in one, a --model file or an upload."""

    id: str
    kind: str  # "builtin" | "file" | "upload" | "mix"
    source: str | Path  # what api.load_model takes
    card: dict[str, Any]
    #: A mix's parts: (source, share) pairs for ``api.load_mix``; empty for one style.
    parts: list[tuple[str | Path, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, **self.card,
                "thumbnail": f"/v1/styles/{self.id}/thumbnail"}

    def load(self, settings: ServerSettings) -> Stylizer:
        """Its network on the server's device and precision: a mix's parts blended, or the
        one model (``api.load_mix``, ``api.load_model``)."""
        if self.parts:
            return api.load_mix(self.parts, device=settings.device,
                                precision=settings.precision)
        return api.load_model(self.source, device=settings.device,
                              precision=settings.precision)


class Styles:
    """The styles on offer. Built-in ones are read from ``api`` on every call, so a style
    installed while the server runs (or a test's stand-in) is seen."""

    def __init__(self, files: list[Path], upload_dir: Path, max_uploads: int) -> None:
        self.upload_dir = upload_dir
        self.max_uploads = max_uploads
        self._lock = threading.Lock()
        self._files: dict[str, Style] = {}
        self._uploads: collections.OrderedDict[str, Style] = collections.OrderedDict()
        for path in files:
            if not path.is_file():
                raise BrushworkError(f"model file not found: {path}")
            key = path.stem
            for n in itertools.count(2):
                if key not in self._files and key not in api.available_styles():
                    break
                key = f"{path.stem}-{n}"
            self._files[key] = Style(key, "file", path.resolve(),
                                     {"title": path.stem, "source": str(path)})

    def all(self) -> list[Style]:
        builtins = [Style(n, "builtin", n, api.style_card(n)) for n in api.available_styles()]
        for style in builtins:
            style.card.setdefault("title", style.id)
        with self._lock:
            return [*builtins, *self._files.values(), *reversed(self._uploads.values())]

    def default(self) -> str | None:
        """The style a request without one gets: the library's default, else the first."""
        ids = [s.id for s in self.all()]
        if DEFAULT_STYLE in ids:
            return DEFAULT_STYLE
        return ids[0] if ids else None

    def get(self, style_id: str) -> Style:
        """A style on offer, or a mix of them (``a:0.6,b:0.4``, ``brushwork.mixing``) whose
        parts are all on offer: a mix never names a file, only styles already offered."""
        for style in self.all():
            if style.id == style_id:
                return style
        if "," in style_id or ":" in style_id:
            try:
                parts = mixing.normalise([(self.get(name).id, weight) for name, weight
                                          in mixing.split_mix(style_id)], style_id)
            except BrushworkError as error:
                raise UnknownStyle(str(error)) from None
            members = {s.id: s for s in self.all()}
            if len(parts) == 1:
                return members[str(parts[0].source)]
            label = mixing.mix_label(parts, [str(part.source) for part in parts])
            sources = [(members[str(part.source)].source, part.weight) for part in parts]
            return Style(label, "mix", label, {"title": label, "mix": [
                {"style": str(part.source), "weight": part.weight} for part in parts]},
                sources)
        known = ", ".join(s.id for s in self.all()) or "none: upload a model file"
        raise UnknownStyle(f"unknown style {quoted(style_id)}; available: {known}")

    def stage_upload(self, data: bytes, filename: str) -> Style:
        """Store an uploaded model file, not yet offered: it is listed (``list_upload``)
        only once it has loaded, so a file that is refused never appears in /v1/styles."""
        digest = hashlib.sha256(data).hexdigest()[:16]
        style_id = f"upload-{digest}"
        with self._lock:
            if style_id in self._uploads:
                return self._uploads[style_id]
        path = self.upload_dir / f"{style_id}.safetensors"
        path.write_bytes(data)
        name = Path(filename).name[:80]
        title = Path(name).stem or style_id
        return Style(style_id, "upload", path, {"title": title, "source": name})

    def list_upload(self, style: Style) -> list[str]:
        """Offer a staged upload (newest first); returns the ids it pushed out."""
        dropped = []
        with self._lock:
            self._uploads[style.id] = style
            self._uploads.move_to_end(style.id)
            while len(self._uploads) > self.max_uploads:
                old_id, old = self._uploads.popitem(last=False)
                Path(old.source).unlink(missing_ok=True)
                dropped.append(old_id)
        return dropped

    def discard_upload(self, style: Style) -> None:
        """Delete a staged upload that did not load (a listed one is left alone)."""
        with self._lock:
            if style.id not in self._uploads:
                Path(style.source).unlink(missing_ok=True)


class ModelCache:
    """One ``Stylizer`` per style id, loaded on first use (``loads`` counts the loads)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.loads = 0
        self._lock = threading.Lock()
        self._models: collections.OrderedDict[str, Stylizer] = collections.OrderedDict()

    def get(self, style: Style) -> Stylizer:
        with self._lock:
            if style.id in self._models:
                self._models.move_to_end(style.id)
                return self._models[style.id]
            model = style.load(self.settings)
            self.loads += 1
            self._models[style.id] = model
            while len(self._models) > self.settings.cached_models:
                self._models.popitem(last=False)
            return model

    def drop(self, style_id: str) -> None:
        with self._lock:
            self._models.pop(style_id, None)

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._models)
