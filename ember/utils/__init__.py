"""``torch.utils``: the data-loading toolkit lives in ``ember.utils.data``."""

from . import data  # noqa: F401
