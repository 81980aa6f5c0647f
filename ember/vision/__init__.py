"""Vision helpers (torchvision's role): ``ember.vision.transforms``."""

from . import transforms  # noqa: F401
