"""hw2: datasets, data loading and augmentation (``torch.utils.data``'s names)."""
from .data_basic import *  # noqa: F401,F403
from .data_transforms import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403
