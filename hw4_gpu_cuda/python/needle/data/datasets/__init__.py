"""Datasets (hw2: MNIST)."""
from .mnist_dataset import *  # noqa: F401,F403
