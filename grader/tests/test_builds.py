"""The reference build: where the CUDA toolkit is installed, nvcc really compiled the CUDA
backend, so a syntax or link error in src/ndarray_backend_cuda.cu fails CI even without a GPU."""
import shutil

import pytest

from grader.course import SOLUTIONS

BACKENDS = SOLUTIONS / "python" / "needle" / "backend_ndarray"


def test_nvcc_built_the_cuda_backend_wherever_nvcc_is_installed():
    if not list(BACKENDS.glob("ndarray_backend_cpu*.so")):
        pytest.skip("solutions/ is not built: run `make build` first")
    if shutil.which("nvcc") is None:
        pytest.skip("no nvcc on this machine: only the emulated CUDA backend is built")
    built = list(BACKENDS.glob("ndarray_backend_cuda.*.so"))
    assert built, "nvcc is installed but solutions/ has no ndarray_backend_cuda module"
    assert list(BACKENDS.glob("ndarray_backend_cuda_emu*.so"))
    # nvcc's output, not a host build under the same name: it embeds the kernels' device code.
    assert b".nv_fatbin" in built[0].read_bytes()
