"""Tensor constructors (``rand``, ``randn``, ``zeros``, ``one_hot``, ...)."""
from .init_basic import *  # noqa: F401,F403
