"""Runs on a GPU machine: the hidden hw4 suite's values on the real device, saved for comparison
with the emulated device's (the answer key's), so a grader without a GPU is known to agree."""
import importlib.util
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "solutions" / "python")]
HIDDEN_CUDA = REPO / "grader" / "hidden" / "hw4" / "test_hidden_cuda.py"
spec = importlib.util.spec_from_file_location("hidden", HIDDEN_CUDA)
hidden = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hidden)
print("hidden tests on", hidden._device())
values = {f"{name}::{key}": array for name in dir(hidden) if name.startswith("test_")
          for key, array in getattr(hidden, name)().items()}
np.savez(sys.argv[1], **values)
print(f"{len(values)} values saved to {sys.argv[1]}")
