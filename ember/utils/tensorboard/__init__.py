"""``torch.utils.tensorboard`` for ember: ``SummaryWriter`` writes TensorBoard event files.

Importing this package is cheap; tensorboardX (the ``tensorboard`` extra) is
imported when a ``SummaryWriter`` is created, and a missing one raises an
ImportError that names the extra.
"""

from .graph_def import to_graph_def
from .writer import SummaryWriter

__all__ = ["SummaryWriter", "to_graph_def"]
