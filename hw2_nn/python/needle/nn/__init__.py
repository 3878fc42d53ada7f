"""hw2: neural network modules (``torch.nn``'s names)."""
from .nn_basic import *  # noqa: F403
