"""segwise: semantic segmentation with honest metrics.

Subpackages are imported lazily by the user (``segwise.metrics``, ``segwise.data``, ...), so
``import segwise`` stays cheap.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
