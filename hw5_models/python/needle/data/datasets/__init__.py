"""Datasets (hw2: MNIST)."""
from .mnist_dataset import *  # noqa: F401,F403
from .cifar10_dataset import *  # noqa: F401,F403
from .ptb_dataset import *  # noqa: F401,F403
