// CUDA on the CPU: the seam that lets src/ndarray_backend_cuda.cu build with an ordinary C++
// compiler and run its kernels on the host, so that indexing, tiling and __syncthreads() bugs
// show up on any machine (DESIGN.md section 3, "CUDA without a GPU").
//
// Under nvcc this header only defines NEEDLE_LAUNCH as the ordinary <<<grid, block>>> launch.
// Under a host compiler (NEEDLE_CUDA_EMULATION defined) it maps
//   __global__, __device__, __host__, __forceinline__   onto plain (inline) host functions,
//   __shared__                                          onto `static` (one copy, shared by the
//                                                       threads of the block that is running),
//   threadIdx, blockIdx, blockDim, gridDim              onto globals the launcher sets (the
//                                                       indices counted from 0, as CUDA's),
//   __syncthreads()                                     onto a barrier across the block's threads,
// and NEEDLE_LAUNCH runs the grid: blocks one after another, the threads of a block as
// cooperating user-level threads (ucontext fibers, each on a stack of its own). A block runs in
// rounds: in each round every live thread runs until its next __syncthreads() or its end, so
// no thread passes a barrier before all have reached it, exactly the guarantee CUDA gives.
// Fibers rather than OS threads: a block of 1024 threads costs 1024 small stacks, not 1024
// kernel threads, and the interleaving is deterministic, so a missing barrier fails the same
// way on every run, never one time in a hundred.
//
// Threads that have returned count as arrived at later barriers (as on Volta and newer GPUs).
// An exception thrown by a kernel (a stub's "not implemented") ends the launch; CheckLaunch
// (called after every launch, as on a GPU) rethrows it.
//
// The checks (src/cuda_emulation.cc; what compute-sanitizer's memcheck, initcheck and
// racecheck do on a GPU). The kernel source is compiled with every load and store instrumented
// (CMakeLists.txt: GCC's and Clang's -fsanitize=kernel-address in its outline mode, which calls
// a function of ours before each access and needs no sanitizer runtime). While a kernel runs:
//   * a global-memory access must lie inside a buffer passed to the kernel: one that reaches
//     past a buffer's end or before its start (into the red zone kept around every emulated
//     device buffer), or into a buffer the kernel was not given, ends the launch;
//   * a read of __shared__ memory that no thread of the block has written is reported;
//   * a __shared__ location written by one thread and read or written by another between the
//     same two barriers is a race, reported with both threads' coordinates.
// The report names the thread (blockIdx, threadIdx) and the offset, and CheckLaunch raises it
// as a RuntimeError naming the kernel. The access itself never happens: the reporting thread
// stops there. NEEDLE_EMULATION_CHECKS=0 in the environment (or the module's set_checks(False))
// turns the checks off.
#pragma once

#ifndef NEEDLE_CUDA_EMULATION

#define NEEDLE_LAUNCH(kernel, grid, block, ...) kernel<<<(grid), (block)>>>(__VA_ARGS__)

#else  // ---- host emulation -------------------------------------------------------------------

#include <cstddef>
#include <functional>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x = 1, unsigned int y = 1, unsigned int z = 1) : x(x), y(y), z(z) {}
};

inline dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace needle {
namespace cuda_emulation {

constexpr unsigned int kMaxThreadsPerBlock = 1024;  // CUDA's limit, checked as a GPU would

// Runs body() as every thread of every block of the grid. `pointers` are the kernel's
// arguments in order, each a pointer or nullptr (Pointers below): the buffers it may access.
// Throws std::invalid_argument for a block of 0 or more than 1024 threads; a kernel's
// exception or a check's report waits for CheckLaunch.
void RunGrid(dim3 grid, dim3 block, const std::function<void()>& body, std::vector<const void*> pointers);

// After every launch (ndarray_backend_cuda.cu's CheckLaunch): rethrows the exception the
// kernel threw, or raises a check's report as std::runtime_error("kernel <name>: ...").
void CheckLaunch(const char* kernel);

// The barrier. Throws std::logic_error outside a kernel.
void SyncThreads();

// Emulated device memory: `bytes` (at least 1) with a red zone on either side that the checks
// watch; Free takes what Malloc gave. Malloc throws std::bad_alloc.
void* Malloc(size_t bytes);
void Free(void* ptr);

// Whether the kernel source was compiled with the access checks, and whether they run (a
// switch, on unless NEEDLE_EMULATION_CHECKS=0); SetChecks returns the previous setting and
// throws std::logic_error to turn on checks the build lacks.
bool ChecksBuilt();
bool ChecksEnabled();
bool SetChecks(bool enabled);

// The kernel arguments as RunGrid takes them: each pointer, or nullptr for a value.
template <typename... Args>
std::vector<const void*> Pointers(const Args&... args) {
  std::vector<const void*> out;
  out.reserve(sizeof...(Args));
  auto add = [&out](const auto& arg) {
    if constexpr (std::is_pointer_v<std::decay_t<decltype(arg)>>)
      out.push_back(static_cast<const void*>(arg));
    else
      out.push_back(nullptr);
  };
  (add(args), ...);
  return out;
}

}  // namespace cuda_emulation
}  // namespace needle

inline void __syncthreads() { needle::cuda_emulation::SyncThreads(); }

#define NEEDLE_LAUNCH(kernel, grid, block, ...)                                          \
  ::needle::cuda_emulation::RunGrid((grid), (block), [&]() { kernel(__VA_ARGS__); }, \
                                    ::needle::cuda_emulation::Pointers(__VA_ARGS__))

#endif  // NEEDLE_CUDA_EMULATION
