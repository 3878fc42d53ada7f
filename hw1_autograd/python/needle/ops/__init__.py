"""needle's ops; each op class pairs a forward ``compute`` with its backward ``gradient``."""
from .ops_mathematic import *  # noqa: F403
