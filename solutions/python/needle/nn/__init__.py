"""hw2: neural network modules (``torch.nn``'s names)."""
from .nn_basic import *  # noqa: F403
### BEGIN FROM hw5
from .nn_conv import *  # noqa: F403
from .nn_sequence import *  # noqa: F403
from .nn_transformer import *  # noqa: F403
### END FROM
