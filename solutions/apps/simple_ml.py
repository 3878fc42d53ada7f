"""CMU needle's ``apps/simple_ml.py``: hw0's MNIST reader with hw1's needle functions, one module.

CMU's hw1 tests run ``sys.path.append("./apps")`` and then ``from simple_ml import *``, calling
``parse_mnist`` (NumPy, as in hw0) and ``softmax_loss``, ``nn_epoch`` and ``loss_err`` on
needle Tensors. This module gathers those names so that such code runs unchanged: hw0's NumPy
helpers come from ``src/simple_ml.py`` and the needle functions from ``apps/simple_ml_needle.py``,
where you write them (hw1 questions 5 and 6). It holds no code of its own.

Two modules are named ``simple_ml``: hw0's ``src/simple_ml.py`` and this one, and ``import
simple_ml`` finds whichever folder comes first on ``sys.path``. This course's ``pytest.ini``
and the grader put ``src/`` first, so there ``simple_ml`` is hw0's NumPy module; with ``apps/``
on ``sys.path`` and ``src/`` not ahead of it (CMU's layout) it is this one. ``import
apps.simple_ml`` finds this one whatever the path.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["check_labels", "default_data_dir", "init_two_layer", "load_mnist_sample", "loss_err",
           "nn_epoch", "parse_mnist", "softmax_loss", "train_nn"]


def _hw0_module() -> ModuleType:
    """hw0's ``src/simple_ml.py``, loaded from its file as ``simple_ml_hw0`` (the name
    ``simple_ml`` may be this module).

    Raises:
        ImportError: if ``src/simple_ml.py`` is not beside this ``apps/`` folder.
    """
    name = "simple_ml_hw0"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent.parent / "src" / "simple_ml.py"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None or not path.is_file():
            raise ImportError(f"simple_ml: hw0's module is not at {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_hw0 = _hw0_module()
parse_mnist = _hw0.parse_mnist
load_mnist_sample = _hw0.load_mnist_sample
default_data_dir = _hw0.default_data_dir
check_labels = _hw0.check_labels
init_two_layer = _hw0.init_two_layer

# simple_ml_needle imports check_labels and init_two_layer from `simple_ml`, which is this
# module when apps/ comes first on sys.path: they are bound above, before it is imported.
try:
    from apps.simple_ml_needle import loss_err, nn_epoch, softmax_loss, train_nn
except ModuleNotFoundError as error:  # apps/ itself on sys.path but not the folder above it
    if error.name != "apps":
        raise
    from simple_ml_needle import loss_err, nn_epoch, softmax_loss, train_nn  # type: ignore[no-redef]
