"""Datasets (hw2: MNIST)."""
from .mnist_dataset import *  # noqa: F401,F403
### BEGIN FROM hw5
from .cifar10_dataset import *  # noqa: F401,F403
from .ptb_dataset import *  # noqa: F401,F403
### END FROM
