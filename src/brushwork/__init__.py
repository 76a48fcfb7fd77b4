"""Brushwork: fast artistic style transfer for high-resolution photos.

An implementation of Wang et al., "Multimodal Transfer: A Hierarchical Deep Convolutional
Neural Network for Fast Artistic Style Transfer" (CVPR 2017).

    >>> import brushwork
    >>> model = brushwork.load_model("starry-night")
    >>> painting = model.stylize(PIL.Image.open("photo.jpg"), size=1024)
"""

__version__ = "0.1.0"

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
