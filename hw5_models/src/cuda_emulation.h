// CUDA on the CPU: the seam that lets src/ndarray_backend_cuda.cu build with an ordinary C++
// compiler and run its kernels on the host, so that indexing, tiling and __syncthreads() bugs
// show up on any machine (DESIGN.md section 3, "CUDA without a GPU").
//
// Under nvcc this header only defines NEEDLE_LAUNCH as the ordinary <<<grid, block>>> launch.
// Under a host compiler (NEEDLE_CUDA_EMULATION defined) it maps
//   __global__, __device__, __host__, __forceinline__   onto plain (inline) host functions,
//   __shared__                                          onto `static` (one copy, shared by the
//                                                       threads of the block that is running),
//   threadIdx, blockIdx, blockDim, gridDim              onto globals the launcher sets,
//   __syncthreads()                                     onto a barrier across the block's threads,
// and NEEDLE_LAUNCH runs the grid: blocks one after another, the threads of a block as
// cooperating user-level threads (ucontext fibers, each on a stack of its own). A block runs in
// rounds: in each round every live thread runs until its next __syncthreads() or its end, so
// no thread passes a barrier before all have reached it, exactly the guarantee CUDA gives.
// Fibers rather than OS threads: a block of 1024 threads costs 1024 small stacks, not 1024
// kernel threads, and the interleaving is deterministic, so a missing barrier fails the same
// way on every run (a thread that reads a shared tile before the others have written it reads
// stale values), never one time in a hundred.
//
// Threads that have returned count as arrived at later barriers (as on Volta and newer GPUs).
// An exception thrown by a kernel (a stub's "not implemented") ends the launch and is rethrown
// by NEEDLE_LAUNCH in the caller.
#pragma once

#ifndef NEEDLE_CUDA_EMULATION

#define NEEDLE_LAUNCH(kernel, grid, block, ...) kernel<<<(grid), (block)>>>(__VA_ARGS__)

#else  // ---- host emulation -------------------------------------------------------------------

#include <ucontext.h>

#include <cstddef>
#include <cstdlib>
#include <exception>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>
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

constexpr size_t kStackBytes = 64 * 1024;
constexpr unsigned int kMaxThreadsPerBlock = 1024;  // CUDA's limit, checked as a GPU would

enum class State { kRunning, kAtBarrier, kDone };

struct Launch {
  std::function<void()> body;
  std::vector<ucontext_t> fibers;
  std::vector<State> states;
  std::vector<char*> stacks;
  ucontext_t scheduler;
  size_t current = 0;
  std::exception_ptr error;
};

inline Launch*& current_launch() {
  static Launch* launch = nullptr;
  return launch;
}

inline void FiberEntry() {
  Launch& launch = *current_launch();
  try {
    launch.body();
  } catch (...) {
    launch.error = std::current_exception();
  }
  launch.states[launch.current] = State::kDone;
  // Returning resumes uc_link: the scheduler.
}

inline void SyncThreads() {
  Launch* launch = current_launch();
  if (launch == nullptr) throw std::logic_error("__syncthreads() called outside a kernel launch");
  launch->states[launch->current] = State::kAtBarrier;
  swapcontext(&launch->fibers[launch->current], &launch->scheduler);
}

// Stacks are kept from launch to launch (launches are serialised by the caller, as kernels on
// one CUDA stream are).
inline std::vector<char*>& stack_pool() {
  static std::vector<char*> pool;
  return pool;
}

// Runs body() as every thread of every block of the grid.
inline void RunGrid(dim3 grid, dim3 block, std::function<void()> body) {
  const size_t threads = size_t(block.x) * block.y * block.z;
  if (threads == 0 || threads > kMaxThreadsPerBlock)
    throw std::invalid_argument("kernel launch: " + std::to_string(threads) +
                                " threads per block; expected 1 to 1024");
  if (current_launch() != nullptr) throw std::logic_error("kernel launch from inside a kernel");
  auto& pool = stack_pool();
  while (pool.size() < threads) {
    char* stack = static_cast<char*>(std::malloc(kStackBytes));
    if (stack == nullptr) throw std::bad_alloc();
    pool.push_back(stack);
  }
  Launch launch;
  launch.body = std::move(body);
  launch.fibers.resize(threads);
  launch.states.resize(threads);
  current_launch() = &launch;
  gridDim = grid;
  blockDim = block;
  for (unsigned int bz = 0; bz < grid.z && !launch.error; ++bz)
    for (unsigned int by = 0; by < grid.y && !launch.error; ++by)
      for (unsigned int bx = 0; bx < grid.x && !launch.error; ++bx) {
        blockIdx = dim3(bx, by, bz);
        for (size_t t = 0; t < threads; ++t) {
          ucontext_t& fiber = launch.fibers[t];
          getcontext(&fiber);
          fiber.uc_stack.ss_sp = pool[t];
          fiber.uc_stack.ss_size = kStackBytes;
          fiber.uc_link = &launch.scheduler;
          makecontext(&fiber, FiberEntry, 0);
          launch.states[t] = State::kRunning;
        }
        // Rounds: each live thread runs to its next barrier or its end.
        for (bool live = true; live && !launch.error;) {
          live = false;
          for (size_t t = 0; t < threads && !launch.error; ++t) {
            if (launch.states[t] == State::kDone) continue;
            launch.current = t;
            launch.states[t] = State::kRunning;
            threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (size_t(block.x) * block.y));
            swapcontext(&launch.scheduler, &launch.fibers[t]);
            live = live || launch.states[t] != State::kDone;
          }
        }
      }
  current_launch() = nullptr;
  if (launch.error) std::rethrow_exception(launch.error);
}

}  // namespace cuda_emulation
}  // namespace needle

inline void __syncthreads() { needle::cuda_emulation::SyncThreads(); }

#define NEEDLE_LAUNCH(kernel, grid, block, ...) \
  ::needle::cuda_emulation::RunGrid((grid), (block), [&]() { kernel(__VA_ARGS__); })

#endif  // NEEDLE_CUDA_EMULATION
