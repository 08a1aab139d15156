"""Images prepared for each platform at queue time: upright, without metadata, within the platform's limits.

``prepare(data, platform)`` does the work (``preparation.py``); ``limits.py`` finds
each platform's documented limits (in its spec) and ``fitting.py`` the sizes against them;
``gif.py`` keeps animated GIFs animated, stripping their metadata without
re-encoding them; ``metadata.py`` names what an image carries. Pillow is
imported only when an image is prepared.
"""

from __future__ import annotations

from crosspost.images.fitting import ImageUnfit, megabytes
from crosspost.images.limits import DEFAULT_LIMITS, MB, ImageLimits, limits_for
from crosspost.images.preparation import Prepared, prepare, prepare_all, prepared_size

__all__ = [
    "DEFAULT_LIMITS",
    "MB",
    "ImageLimits",
    "ImageUnfit",
    "Prepared",
    "limits_for",
    "megabytes",
    "prepare",
    "prepare_all",
    "prepared_size",
]
