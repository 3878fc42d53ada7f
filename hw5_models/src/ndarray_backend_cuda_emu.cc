// The CUDA backend built by the host C++ compiler, its kernels run on the CPU by
// src/cuda_emulation.h: `ndl.cuda(emulate=True)`, for machines without a GPU.
#define NEEDLE_CUDA_EMULATION 1
#define NEEDLE_CUDA_MODULE ndarray_backend_cuda_emu
#include "ndarray_backend_cuda.cu"
