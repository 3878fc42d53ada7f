"""Tensor constructors (``rand``, ``randn``, ``zeros``, ``one_hot``, ...) and, from hw2, initialisers."""
from .init_basic import *  # noqa: F403
from .init_basic import default_generator, manual_seed  # noqa: F401
from .init_initializers import *  # noqa: F403
