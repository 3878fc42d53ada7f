// needle's CUDA backend (hw4): the kernels behind ndl.cuda(), with the same interface as the
// CPU backend (src/ndarray_backend_cpu.cc) and the NumPy reference.
//
// The same source builds two ways (CMakeLists.txt):
//   * with nvcc, as `ndarray_backend_cuda`, running on a real GPU;
//   * with the host C++ compiler and NEEDLE_CUDA_EMULATION defined (src/ndarray_backend_cuda_emu.cc),
//     as `ndarray_backend_cuda_emu`: src/cuda_emulation.h runs every kernel launch on the CPU,
//     threads of a block as cooperating fibers, so `ndl.cuda(emulate=True)` tests these kernels
//     on any machine.
// Every kernel is launched through NEEDLE_LAUNCH and checked right after (CheckLaunch), and
// every CUDA runtime call through NEEDLE_CUDA_CHECK: a failure raises a Python RuntimeError
// that names the call, never an abort.
//
// Buffers are flat device arrays of float32 or float64. The bindings (src/ndarray_backend_bindings.h,
// given code, shared with the CPU backend) check sizes and dtypes, then dispatch through `Backend`
// at the bottom to a kernel template on the element type T; you write the kernels. Thread indexing follows the CUDA C++ Programming Guide (section 5.2, "Thread
// Hierarchy"); the tiled matmul is the shared-memory blocking of Kirk & Hwu, "Programming
// Massively Parallel Processors", 4th ed., chapter 5, with a register tile per thread as in
// V. Volkov & J. Demmel, "Benchmarking GPUs to tune dense linear algebra", SC 2008.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_emulation.h"
#include "ndarray_backend_bindings.h"
#include "ndarray_backend_common.h"

#ifndef NEEDLE_CUDA_EMULATION
#include <cuda_runtime.h>
#endif

#ifndef NEEDLE_CUDA_MODULE
#define NEEDLE_CUDA_MODULE ndarray_backend_cuda
#endif

namespace needle {
namespace cuda {

namespace py = pybind11;

constexpr size_t kBaseThreads = 256;  // threads per block of the one-thread-per-element kernels
constexpr size_t kMaxDims = 8;        // shapes and strides travel to kernels by value
constexpr size_t kMaxBlocks = 0x7fffffff;  // gridDim.x's limit

// ---- the runtime seam: device memory, copies, launch checks (given code) ---------------------

#ifdef NEEDLE_CUDA_EMULATION
// Host memory with red zones around it, which the emulation's access checks watch.
inline void* DeviceAlloc(size_t bytes) {
  try {
    return cuda_emulation::Malloc(bytes);
  } catch (const std::bad_alloc&) {
    ThrowMemoryError("cannot allocate " + std::to_string(bytes) + " bytes (emulated device)");
  }
}
inline void DeviceFree(void* ptr, size_t) { cuda_emulation::Free(ptr); }
inline void CopyToDevice(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
inline void CopyToHost(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
inline void CopyOnDevice(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
// After every launch: the kernel's exception (a stub's), or what the access checks found.
inline void CheckLaunch(const char* kernel) { cuda_emulation::CheckLaunch(kernel); }
#else
#define NEEDLE_CUDA_CHECK(call)                                                              \
  do {                                                                                       \
    cudaError_t status_ = (call);                                                            \
    if (status_ != cudaSuccess)                                                              \
      throw std::runtime_error(std::string(#call) + " failed: " + cudaGetErrorString(status_)); \
  } while (0)

__device__ int stub_hit = 0;           // set by NEEDLE_NOT_IMPLEMENTED in device code
__device__ char stub_message[128];     // and its message, for CheckLaunch to raise

// Device buffers are kept for reuse without bound (BufferCache), and handed back to CUDA by
// empty_cache() or when cudaMalloc runs out of memory. Sizes are rounded up to 512 bytes so
// that nearby sizes share buffers.
inline BufferCache& device_buffers() {
  static auto* cache = new BufferCache(SIZE_MAX);  // never destroyed: outlives the CUDA context
  return *cache;
}
inline size_t DeviceBytes(size_t bytes) { return (std::max<size_t>(bytes, 1) + 511) / 512 * 512; }
inline void EmptyCache() { device_buffers().Clear(cudaFree); }
inline void* DeviceAlloc(size_t bytes) {
  bytes = DeviceBytes(bytes);
  void* ptr = device_buffers().Take(bytes);
  if (ptr == nullptr && cudaMalloc(&ptr, bytes) != cudaSuccess) {
    cudaGetLastError();  // out of memory: hand the cache back and try once more
    EmptyCache();
    const cudaError_t status = cudaMalloc(&ptr, bytes);
    if (status != cudaSuccess) {
      cudaGetLastError();
      ThrowMemoryError("cudaMalloc of " + std::to_string(bytes) + " bytes failed: " + cudaGetErrorString(status));
    }
  }
  return ptr;
}
inline void DeviceFree(void* ptr, size_t bytes) {  // never throws: called by destructors
  device_buffers().Keep(ptr, DeviceBytes(bytes));
}
inline void CopyToDevice(void* dst, const void* src, size_t bytes) {
  NEEDLE_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
inline void CopyToHost(void* dst, const void* src, size_t bytes) {
  NEEDLE_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
inline void CopyOnDevice(void* dst, const void* src, size_t bytes) {
  NEEDLE_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}
// After every launch: a launch error, an error while it ran, or a stub that was reached.
inline void CheckLaunch(const char* kernel) {
  cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) status = cudaDeviceSynchronize();
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("kernel ") + kernel + " failed: " + cudaGetErrorString(status));
  int hit = 0;
  NEEDLE_CUDA_CHECK(cudaMemcpyFromSymbol(&hit, stub_hit, sizeof(int)));
  if (hit) {
    char message[sizeof(stub_message)] = {};
    NEEDLE_CUDA_CHECK(cudaMemcpyFromSymbol(message, stub_message, sizeof(message)));
    const int zero = 0;
    NEEDLE_CUDA_CHECK(cudaMemcpyToSymbol(stub_hit, &zero, sizeof(int)));
    throw std::runtime_error(std::string("not implemented: ") + message);
  }
}

__device__ void StubHit(const char* what) {
  if (atomicCAS(&stub_hit, 0, 1) == 0) {
    int i = 0;
    for (; what[i] != '\0' && i + 1 < int(sizeof(stub_message)); ++i) stub_message[i] = what[i];
    stub_message[i] = '\0';
  }
}
#endif

// The stub of a student region. In host code (and in emulation) it throws; device code cannot,
// so it records the message and returns, and CheckLaunch raises it after the launch.
#if defined(__CUDA_ARCH__)
#define NEEDLE_NOT_IMPLEMENTED(what) \
  do {                               \
    ::needle::cuda::StubHit(what);   \
    return;                          \
  } while (0)
#else
#define NEEDLE_NOT_IMPLEMENTED(what) throw std::runtime_error("not implemented: " what)
#endif

struct CudaArray {
  // A ValueError names a negative size or one whose byte count overflows (CheckedBytes); a
  // MemoryError one the device cannot provide.
  CudaArray(int64_t size_in, const std::string& dtype) : size(CheckDim("Array", "size", size_in)) {
    this->dtype = ParseDType(dtype, &elem_size);
    ptr = DeviceAlloc(CheckedBytes("Array", size, elem_size, dtype));  // <= PTRDIFF_MAX: rounding cannot wrap
  }
  ~CudaArray() { DeviceFree(ptr, size * elem_size); }
  CudaArray(const CudaArray&) = delete;
  CudaArray& operator=(const CudaArray&) = delete;

  template <typename T>
  T* data() const { return static_cast<T*>(ptr); }
  size_t ptr_as_int() const { return reinterpret_cast<size_t>(ptr); }
  std::string dtype_name() const { return DTypeName(dtype); }

  void* ptr;
  size_t size;
  size_t elem_size;
  DType dtype;
};

// Row indices copied to the device for one launch, freed (into the cache) afterwards.
struct RowIndices {
  explicit RowIndices(const std::vector<int64_t>& rows) : bytes(rows.size() * sizeof(int64_t)) {
    ptr = static_cast<int64_t*>(DeviceAlloc(bytes));
    CopyToDevice(ptr, rows.data(), bytes);
  }
  ~RowIndices() { DeviceFree(ptr, bytes); }
  RowIndices(const RowIndices&) = delete;
  RowIndices& operator=(const RowIndices&) = delete;
  int64_t* ptr;
  size_t bytes;
};

// A shape or strides, by value into a kernel.
struct CudaVec {
  uint32_t size;
  int64_t data[kMaxDims];
};

inline CudaVec ToCudaVec(const std::vector<int64_t>& x) {
  if (x.size() > kMaxDims)
    throw py::value_error("the CUDA backend handles up to " + std::to_string(kMaxDims) + " axes, not " +
                          std::to_string(x.size()));
  CudaVec out{};
  out.size = static_cast<uint32_t>(x.size());
  for (size_t i = 0; i < x.size(); ++i) out.data[i] = x[i];
  return out;
}

// One thread per element: the grid that covers n elements, ceil(n / kBaseThreads) blocks of
// kBaseThreads threads. Thread gid = blockIdx.x * blockDim.x + threadIdx.x (every index counted
// from 0, docs/notation.md#gpu) handles element gid; the last block's threads with gid >= n idle.
struct Grid {
  dim3 blocks, threads;
};

inline Grid GridFor(size_t n) {
  const size_t blocks = std::max<size_t>(1, (n + kBaseThreads - 1) / kBaseThreads);
  if (blocks > kMaxBlocks)
    throw py::value_error(std::to_string(n) + " elements need " + std::to_string(blocks) +
                          " blocks, more than CUDA's grid limit of 2^31 - 1");
  return {dim3(static_cast<unsigned int>(blocks)), dim3(static_cast<unsigned int>(kBaseThreads))};
}

// ---- strided copies --------------------------------------------------------------------------

// The place in a strided buffer of the element whose row-major index is gid: with the axes'
// indices i_k = (gid / (shape[k+1] * ... * shape[r-1])) % shape[k], peeled off from the last
// axis, the place is offset + sum_k i_k * strides[k] (docs/notation.md#strides; from 0).
__device__ __forceinline__ int64_t StridedIndex(size_t gid, const CudaVec& shape, const CudaVec& strides,
                                                size_t offset) {
  int64_t index = static_cast<int64_t>(offset);
  size_t rest = gid;
  for (int d = static_cast<int>(shape.size) - 1; d >= 0; --d) {
    index += static_cast<int64_t>(rest % shape.data[d]) * strides.data[d];
    rest /= shape.data[d];
  }
  return index;
}

template <typename T>
__global__ void CompactKernel(const T* a, T* out, size_t size, CudaVec shape, CudaVec strides, size_t offset) {
  // out[gid] = a[the strided place of element gid], one thread per element.
  /// BEGIN SOLUTION hw4
  const size_t gid = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (gid < size) out[gid] = a[StridedIndex(gid, shape, strides, offset)];
  /// END SOLUTION
}

template <typename T>
__global__ void EwiseSetitemKernel(const T* a, T* out, size_t size, CudaVec shape, CudaVec strides, size_t offset) {
  // The inverse of CompactKernel: out[the strided place of element gid] = a[gid].
  /// BEGIN SOLUTION hw4
  const size_t gid = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (gid < size) out[StridedIndex(gid, shape, strides, offset)] = a[gid];
  /// END SOLUTION
}

template <typename T>
__global__ void ScalarSetitemKernel(T val, T* out, size_t size, CudaVec shape, CudaVec strides, size_t offset) {
  /// BEGIN SOLUTION hw4
  const size_t gid = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (gid < size) out[StridedIndex(gid, shape, strides, offset)] = val;
  /// END SOLUTION
}

// ---- element-wise kernels --------------------------------------------------------------------
// `op` is one of the element-wise functors below (Add, Exp, ...); one thread per element.

template <typename T, typename Op>
__global__ void EwiseBinaryKernel(const T* a, const T* b, T* out, size_t size, Op op) {
  /// BEGIN SOLUTION hw4
  const size_t gid = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (gid < size) out[gid] = op(a[gid], b[gid]);
  /// END SOLUTION
}

template <typename T, typename Op>
__global__ void ScalarBinaryKernel(const T* a, T val, T* out, size_t size, Op op) {
  /// BEGIN SOLUTION hw4
  const size_t gid = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (gid < size) out[gid] = op(a[gid], val);
  /// END SOLUTION
}

template <typename T, typename Op>
__global__ void EwiseUnaryKernel(const T* a, T* out, size_t size, Op op) {
  /// BEGIN SOLUTION hw4
  const size_t gid = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (gid < size) out[gid] = op(a[gid]);
  /// END SOLUTION
}

// ---- reductions ------------------------------------------------------------------------------
// a is compact with shape (outer, size, inner); out[o * inner + i] = reduce_j a[(o * size + j) * inner + i].
// Combine values only through `op` (Add, or Maximum, which propagates NaN): a NaN in a row
// makes its max NaN, as NumPy's (tests/hw3/test_bad_input.py checks this on cuda_emu too).

constexpr unsigned int kReduceThreads = 256;

template <typename T, typename Op>
__global__ void ReduceRowsKernel(const T* a, T* out, size_t size, T init, Op op) {
  // inner == 1: block o reduces the contiguous row o. Each thread folds a strided share of the
  // row, then the block combines the kReduceThreads partial results by a tree in shared memory,
  // halving the active threads each step (Harris, "Optimizing Parallel Reduction in CUDA", 2007).
  /// BEGIN SOLUTION hw4
  __shared__ T partial[kReduceThreads];
  const T* row = a + blockIdx.x * size;
  T acc = init;
  for (size_t j = threadIdx.x; j < size; j += blockDim.x) acc = op(acc, row[j]);
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] = op(partial[threadIdx.x], partial[threadIdx.x + half]);
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = partial[0];
  /// END SOLUTION
}

// Column reductions: a block of kColumnsX x kColumnsY threads per kColumnsX outputs.
constexpr unsigned int kColumnsX = 32, kColumnsY = 32;

template <typename T, typename Op>
__global__ void ReduceColumnsKernel(const T* a, T* out, size_t outer, size_t size, size_t inner, T init, Op op) {
  // inner > 1. Block b reduces columns x * kColumnsX ... of slab o, where o = b / blocks_x and
  // x = b % blocks_x (blocks_x = ceil(inner / kColumnsX)). threadIdx.x picks the column, so a
  // warp reads kColumnsX neighbouring elements at once (coalesced); threadIdx.y takes every
  // kColumnsY-th row. The kColumnsY partial results of each column then meet in shared memory.
  /// BEGIN SOLUTION hw4
  __shared__ T partial[kColumnsY][kColumnsX + 1];
  const size_t blocks_x = (inner + kColumnsX - 1) / kColumnsX;
  const size_t o = blockIdx.x / blocks_x, i = (blockIdx.x % blocks_x) * kColumnsX + threadIdx.x;
  T acc = init;
  if (i < inner) {
    const T* base = a + o * size * inner + i;
    for (size_t j = threadIdx.y; j < size; j += kColumnsY) acc = op(acc, base[j * inner]);
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && i < inner) {
    T total = partial[0][threadIdx.x];
    for (unsigned int y = 1; y < kColumnsY; ++y) total = op(total, partial[y][threadIdx.x]);
    out[o * inner + i] = total;
  }
  /// END SOLUTION
}

// ---- matrix multiplication -------------------------------------------------------------------

template <typename T>
__global__ void MatmulNaiveKernel(const T* a, const T* b, T* out, size_t m, size_t n, size_t p) {
  // out (m x p) = a (m x n) @ b (n x p), out[i, j] = sum_k a[i, k] b[k, j] with every index
  // from 0, all three compact (row-major): one thread per output element, a 2-D grid of
  // 16 x 16 blocks with x along the columns of out.
  /// BEGIN SOLUTION hw4
  const size_t row = size_t(blockIdx.y) * blockDim.y + threadIdx.y, col = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (row >= m || col >= p) return;
  T acc = 0;
  for (size_t k = 0; k < n; ++k) acc += a[row * n + k] * b[k * p + col];
  out[row * p + col] = acc;
  /// END SOLUTION
}

// The tiled kernel's shape: a block of kThreads threads computes a kBM x kBN tile of out, each
// thread kTM x kTN outputs held in registers; a and b come through shared memory kBK columns /
// rows at a time. A thread's outputs are strided by the block's width in threads (rows ty,
// ty + 16, ...; columns tx, tx + 16, ...), so a warp reads shared memory and writes out in
// consecutive addresses.
constexpr unsigned int kBM = 128, kBN = 128, kBK = 8, kTM = 8, kTN = 8;
constexpr unsigned int kThreadsX = kBN / kTN, kThreadsY = kBM / kTM;  // 16 x 16
constexpr unsigned int kThreads = kThreadsX * kThreadsY;               // 256
constexpr unsigned int kPad = 4;  // a_tile's row padding: its transposed stores hit distinct banks

template <typename T>
__global__ void MatmulKernel(const T* a, const T* b, T* out, size_t m, size_t n, size_t p) {
  // The fast kernel, same contract as MatmulNaiveKernel, launched with kThreads threads per
  // block and one block per kBM x kBN tile of out. For each kBK-wide slice of n: the block's
  // threads load the a tile (kBM x kBK, stored transposed) and the b tile (kBK x kBN) into
  // shared memory, zero outside the matrices; __syncthreads(); each thread accumulates its
  // kTM x kTN outer products from shared memory through registers; __syncthreads() again
  // before the next slice overwrites the tiles. Each slice is fetched into registers while the
  // one before is being used, so the loads' latency hides behind arithmetic.
  /// BEGIN SOLUTION hw4
  __shared__ T a_tile[kBK][kBM + kPad];
  __shared__ T b_tile[kBK][kBN];
  constexpr unsigned int kLoads = kBM * kBK / kThreads;  // 4 elements of each tile per thread
  const unsigned int tid = threadIdx.x, tx = tid % kThreadsX, ty = tid / kThreadsX;
  const size_t row0 = size_t(blockIdx.y) * kBM, col0 = size_t(blockIdx.x) * kBN;
  // This thread loads a[row0 + a_r + 32 l][k0 + a_k] and b[k0 + b_k + 2 l][col0 + b_c], l < 4:
  // a warp reads 4 runs of 8 consecutive values of a and 32 consecutive values of b.
  const unsigned int a_r = tid / kBK, a_k = tid % kBK, b_k = tid / kBN, b_c = tid % kBN;
  const bool b_col_ok = col0 + b_c < p;
  T a_next[kLoads], b_next[kLoads];
  auto load = [&](size_t k0) {  // the slice at k0 into registers, zero outside the matrices
#pragma unroll
    for (unsigned int l = 0; l < kLoads; ++l) {
      const size_t row = row0 + a_r + l * (kThreads / kBK), ka = k0 + a_k, kb = k0 + b_k + l * (kThreads / kBN);
      a_next[l] = (row < m && ka < n) ? a[row * n + ka] : T(0);
      b_next[l] = (kb < n && b_col_ok) ? b[kb * p + col0 + b_c] : T(0);
    }
  };
  T acc[kTM][kTN];
#pragma unroll
  for (unsigned int i = 0; i < kTM; ++i)
#pragma unroll
    for (unsigned int j = 0; j < kTN; ++j) acc[i][j] = 0;
  load(0);
  for (size_t k0 = 0; k0 < n; k0 += kBK) {
#pragma unroll
    for (unsigned int l = 0; l < kLoads; ++l) {
      a_tile[a_k][a_r + l * (kThreads / kBK)] = a_next[l];
      b_tile[b_k + l * (kThreads / kBN)][b_c] = b_next[l];
    }
    __syncthreads();
    if (k0 + kBK < n) load(k0 + kBK);  // the next slice's loads fly while this one is used
#pragma unroll
    for (unsigned int k = 0; k < kBK; ++k) {
      T a_reg[kTM], b_reg[kTN];
#pragma unroll
      for (unsigned int i = 0; i < kTM; ++i) a_reg[i] = a_tile[k][ty + i * kThreadsY];
#pragma unroll
      for (unsigned int j = 0; j < kTN; ++j) b_reg[j] = b_tile[k][tx + j * kThreadsX];
#pragma unroll
      for (unsigned int i = 0; i < kTM; ++i)
#pragma unroll
        for (unsigned int j = 0; j < kTN; ++j) acc[i][j] += a_reg[i] * b_reg[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (unsigned int i = 0; i < kTM; ++i) {
    const size_t row = row0 + ty + i * kThreadsY;
    if (row >= m) break;
#pragma unroll
    for (unsigned int j = 0; j < kTN; ++j) {
      const size_t col = col0 + tx + j * kThreadsX;
      if (col < p) out[row * p + col] = acc[i][j];
    }
  }
  /// END SOLUTION
}

// ---- element-wise functors and the fused kernels (given code) --------------------------------

// Function objects usable on the host (emulation) and the device, where CUDA's maths library
// provides exp, log, pow and tanh for float and double.
#ifdef NEEDLE_CUDA_EMULATION
using std::exp;
using std::log;
using std::pow;
using std::tanh;
#endif
struct Add { template <typename T> __host__ __device__ T operator()(T x, T y) const { return x + y; } };
struct Mul { template <typename T> __host__ __device__ T operator()(T x, T y) const { return x * y; } };
struct Div { template <typename T> __host__ __device__ T operator()(T x, T y) const { return x / y; } };
// IEEE 754 semantics as on the CPU backend (see its functors): pow is C99's, which CUDA's pow
// follows too ((-inf) ** 0.5 = inf, pow(NaN, 0) = 1); maximum propagates NaN from either
// operand; comparisons with NaN are false.
struct Pow { template <typename T> __host__ __device__ T operator()(T x, T y) const { return pow(x, y); } };
struct Maximum {  // x != x: x is NaN
  template <typename T> __host__ __device__ T operator()(T x, T y) const { return (x > y || x != x) ? x : y; }
};
struct Eq { template <typename T> __host__ __device__ T operator()(T x, T y) const { return x == y ? T(1) : T(0); } };
struct Ge { template <typename T> __host__ __device__ T operator()(T x, T y) const { return x >= y ? T(1) : T(0); } };
struct Log { template <typename T> __host__ __device__ T operator()(T x) const { return log(x); } };
struct Exp { template <typename T> __host__ __device__ T operator()(T x) const { return exp(x); } };
struct Tanh { template <typename T> __host__ __device__ T operator()(T x) const { return tanh(x); } };
struct Sigmoid {  // exp(-x) overflows to inf for very negative x, and 1 / inf is the limit 0
  template <typename T> __host__ __device__ T operator()(T x) const { return T(1) / (T(1) + exp(-x)); }
};

// One LSTM step's gate arithmetic, fused (as PyTorch's fused LSTM cell): pre (batch x 4 hidden)
// holds the pre-activations of the gates i, f, g, o side by side, c (batch x hidden) the cell
// state c_{t-1}; with elementwise products (docs/notation.md#sequences)
//   c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g),   h_t = sigmoid(o) * tanh(c_t),
// and the backward pass, from the adjoints of h_t and c_t, recomputes the gates and gives the
// adjoints of pre and c_{t-1}.
// One thread per (row, unit); the gates' sigmoid is the Sigmoid functor's.

template <typename T>
__global__ void LstmGatesKernel(const T* pre, const T* c, T* h_out, T* c_out, size_t batch, size_t hidden) {
  const size_t k = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= batch * hidden) return;
  const Sigmoid sigm;
  const T* p = pre + (k / hidden) * 4 * hidden + k % hidden;
  const T i = sigm(p[0]), f = sigm(p[hidden]), g = tanh(p[2 * hidden]), o = sigm(p[3 * hidden]);
  const T c2 = f * c[k] + i * g;
  c_out[k] = c2;
  h_out[k] = o * tanh(c2);
}

template <typename T>
__global__ void LstmGatesBackwardKernel(const T* pre, const T* c, const T* dh, const T* dc, T* dpre,
                                        T* dc_out, size_t batch, size_t hidden) {
  const size_t k = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= batch * hidden) return;
  const Sigmoid sigm;
  const size_t at = (k / hidden) * 4 * hidden + k % hidden;
  const T* p = pre + at;
  const T i = sigm(p[0]), f = sigm(p[hidden]), g = tanh(p[2 * hidden]), o = sigm(p[3 * hidden]);
  const T c2 = f * c[k] + i * g, t = tanh(c2);
  const T dc2 = dc[k] + dh[k] * o * (T(1) - t * t);
  T* d = dpre + at;
  d[0] = dc2 * g * i * (T(1) - i);
  d[hidden] = dc2 * c[k] * f * (T(1) - f);
  d[2 * hidden] = dc2 * i * (T(1) - g * g);
  d[3 * hidden] = dh[k] * t * o * (T(1) - o);
  dc_out[k] = dc2 * f;
}

// out[r, :] = a[idx[r], :], one thread an element.
template <typename T>
__global__ void TakeRowsKernel(const T* a, const int64_t* idx, T* out, size_t rows, size_t cols) {
  const size_t gid = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (gid < rows * cols) out[gid] = a[idx[gid / cols] * cols + gid % cols];
}

// out[idx[r], :] += a[r, :]: one thread a column, walking the rows in order, so that repeated
// rows add up without atomics and in the same order on every run.
template <typename T>
__global__ void IndexAddRowsKernel(const T* a, const int64_t* idx, T* out, size_t rows, size_t cols) {
  const size_t j = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  for (size_t r = 0; r < rows; ++r) out[idx[r] * cols + j] += a[r * cols + j];
}

template <typename T>
__global__ void FillKernel(T* out, T val, size_t size) {
  const size_t gid = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (gid < size) out[gid] = val;
}

// ---- the binding table's launchers (given code) ----------------------------------------------

// Launches `kernel` with one thread per element of n (GridFor), then checks it (CheckLaunch,
// which names it `name` in any error).
template <typename Kernel, typename... Args>
void LaunchPerElement(const char* name, Kernel kernel, size_t n, Args... args) {
  const Grid g = GridFor(n);
  NEEDLE_LAUNCH(kernel, g.blocks, g.threads, args...);
  CheckLaunch(name);
}

// The kernels above, launched under the names of the shared binding table
// (src/ndarray_backend_bindings.h), which checks every argument before calling them.
struct Backend {
  using Array = CudaArray;
  static constexpr bool kModuleLocal = true;  // both builds define CudaArray
  using Add = cuda::Add;
  using Mul = cuda::Mul;
  using Div = cuda::Div;
  using Pow = cuda::Pow;
  using Maximum = cuda::Maximum;
  using Eq = cuda::Eq;
  using Ge = cuda::Ge;
  using Log = cuda::Log;
  using Exp = cuda::Exp;
  using Tanh = cuda::Tanh;
  using Sigmoid = cuda::Sigmoid;

  // The view checks of ndarray_backend_common.h, and at most kMaxDims axes.
  static size_t CheckView(const char* name, const Shape& shape, const Shape& strides, int64_t offset, size_t size) {
    const size_t count = needle::CheckView(name, shape, strides, offset, size);
    ToCudaVec(shape);
    return count;
  }
  // A reduction needs a block per row (inner == 1) or per kColumnsX columns of each slab.
  static void CheckReduce(const char* name, size_t outer, size_t inner) {
    const size_t blocks = inner == 1 ? outer : outer * ((inner + kColumnsX - 1) / kColumnsX);
    if (blocks > kMaxBlocks)
      throw py::value_error(std::string(name) + ": outer " + std::to_string(outer) + " x inner " +
                            std::to_string(inner) + " needs " + std::to_string(blocks) +
                            " blocks, more than CUDA's grid limit of 2^31 - 1");
  }
  static void CopyToDevice(void* dst, const void* src, size_t bytes) { cuda::CopyToDevice(dst, src, bytes); }
  static void CopyOnDevice(void* dst, const void* src, size_t bytes) { cuda::CopyOnDevice(dst, src, bytes); }

  // The whole buffer comes to the host, and NumPy does the strided walk, so this works before
  // CompactKernel does.
  template <typename T>
  static py::array_t<T> ToNumpy(const Array& a, const Shape& shape, const Shape& strides, int64_t offset) {
    std::vector<T> host(a.size);
    CopyToHost(host.data(), a.ptr, a.size * sizeof(T));
    std::vector<py::ssize_t> byte_strides;
    for (int64_t s : strides) byte_strides.push_back(s * static_cast<py::ssize_t>(sizeof(T)));
    // Without a base object, pybind11 copies the view into a new, compact array.
    return py::array_t<T>(std::vector<py::ssize_t>(shape.begin(), shape.end()), byte_strides,
                          host.data() + offset);
  }
  template <typename T>
  static void Fill(Array* out, T val) {
    LaunchPerElement("FillKernel", &FillKernel<T>, out->size, out->data<T>(), val, out->size);
  }

  template <typename T>
  static void Compact(const Array& a, Array* out, const Shape& shape, const Shape& strides, size_t offset,
                      size_t count) {
    LaunchPerElement("CompactKernel", &CompactKernel<T>, count, a.data<T>(), out->data<T>(), count,
                     ToCudaVec(shape), ToCudaVec(strides), offset);
  }
  template <typename T>
  static void EwiseSetitem(const Array& a, Array* out, const Shape& shape, const Shape& strides, size_t offset,
                           size_t count) {
    LaunchPerElement("EwiseSetitemKernel", &EwiseSetitemKernel<T>, count, a.data<T>(), out->data<T>(), count,
                     ToCudaVec(shape), ToCudaVec(strides), offset);
  }
  template <typename T>
  static void ScalarSetitem(T val, Array* out, const Shape& shape, const Shape& strides, size_t offset,
                            size_t count) {
    LaunchPerElement("ScalarSetitemKernel", &ScalarSetitemKernel<T>, count, val, out->data<T>(), count,
                     ToCudaVec(shape), ToCudaVec(strides), offset);
  }

  template <typename T, typename Op>
  static void EwiseBinary(const Array& a, const Array& b, Array* out, size_t n) {
    LaunchPerElement("EwiseBinaryKernel", &EwiseBinaryKernel<T, Op>, n, a.data<T>(), b.data<T>(), out->data<T>(),
                     n, Op{});
  }
  template <typename T, typename Op>
  static void ScalarBinary(const Array& a, T val, Array* out, size_t n) {
    LaunchPerElement("ScalarBinaryKernel", &ScalarBinaryKernel<T, Op>, n, a.data<T>(), val, out->data<T>(), n,
                     Op{});
  }
  template <typename T, typename Op>
  static void EwiseUnary(const Array& a, Array* out, size_t n) {
    LaunchPerElement("EwiseUnaryKernel", &EwiseUnaryKernel<T, Op>, n, a.data<T>(), out->data<T>(), n, Op{});
  }
  // A block per row when the reduced axis is the last (inner == 1), else per kColumnsX columns.
  template <typename T, typename Op>
  static void Reduce(const Array& a, Array* out, size_t outer, size_t size, size_t inner, T init) {
    if (inner == 1) {
      auto kernel = &ReduceRowsKernel<T, Op>;
      NEEDLE_LAUNCH(kernel, dim3(static_cast<unsigned int>(outer)), dim3(kReduceThreads), a.data<T>(),
                    out->data<T>(), size, init, Op{});
      CheckLaunch("ReduceRowsKernel");
    } else {
      const size_t blocks = outer * ((inner + kColumnsX - 1) / kColumnsX);
      auto kernel = &ReduceColumnsKernel<T, Op>;
      NEEDLE_LAUNCH(kernel, dim3(static_cast<unsigned int>(blocks)), dim3(kColumnsX, kColumnsY), a.data<T>(),
                    out->data<T>(), outer, size, inner, init, Op{});
      CheckLaunch("ReduceColumnsKernel");
    }
  }

  // A block of kThreads threads per kBM x kBN tile of out.
  template <typename T>
  static void Matmul(const T* a, const T* b, T* out, size_t m, size_t n, size_t p) {
    const dim3 grid(static_cast<unsigned int>((p + kBN - 1) / kBN), static_cast<unsigned int>((m + kBM - 1) / kBM));
    auto kernel = &MatmulKernel<T>;
    NEEDLE_LAUNCH(kernel, grid, dim3(kThreads), a, b, out, m, n, p);
    CheckLaunch("MatmulKernel");
  }
  // A 16 x 16 block per 16 x 16 tile of out.
  template <typename T>
  static void MatmulNaive(const T* a, const T* b, T* out, size_t m, size_t n, size_t p) {
    const dim3 grid(static_cast<unsigned int>((p + 15) / 16), static_cast<unsigned int>((m + 15) / 16));
    auto kernel = &MatmulNaiveKernel<T>;
    NEEDLE_LAUNCH(kernel, grid, dim3(16, 16), a, b, out, m, n, p);
    CheckLaunch("MatmulNaiveKernel");
  }

  template <typename T>
  static void LstmGates(const T* pre, const T* c, T* h_out, T* c_out, size_t batch, size_t hidden) {
    LaunchPerElement("LstmGatesKernel", &LstmGatesKernel<T>, batch * hidden, pre, c, h_out, c_out, batch, hidden);
  }
  template <typename T>
  static void LstmGatesBackward(const T* pre, const T* c, const T* dh, const T* dc, T* dpre, T* dc_out,
                                size_t batch, size_t hidden) {
    LaunchPerElement("LstmGatesBackwardKernel", &LstmGatesBackwardKernel<T>, batch * hidden, pre, c, dh, dc, dpre,
                     dc_out, batch, hidden);
  }

  template <typename T>
  static void TakeRows(const Array& a, const std::vector<int64_t>& rows, Array* out, size_t cols) {
    RowIndices on_device(rows);
    LaunchPerElement("TakeRowsKernel", &TakeRowsKernel<T>, rows.size() * cols, a.data<T>(), on_device.ptr,
                     out->data<T>(), rows.size(), cols);
  }
  // One thread a column.
  template <typename T>
  static void IndexAddRows(const Array& a, const std::vector<int64_t>& rows, Array* out, size_t cols) {
    RowIndices on_device(rows);
    LaunchPerElement("IndexAddRowsKernel", &IndexAddRowsKernel<T>, cols, a.data<T>(), on_device.ptr,
                     out->data<T>(), rows.size(), cols);
  }
};

}  // namespace cuda
}  // namespace needle

PYBIND11_MODULE(NEEDLE_CUDA_MODULE, m) {
  using namespace needle::cuda;
  m.doc() = "needle's CUDA backend: the kernels behind ndl.cuda() (see src/ndarray_backend_cuda.cu)";
#ifdef NEEDLE_CUDA_EMULATION
  m.attr("__device_name__") = "cuda_emu";
  m.attr("__emulated__") = true;
  m.def("device_count", []() { return 1; }, "Emulated: always one device, the host CPU.");
  m.def("device_name", []() { return std::string("CPU emulation (src/cuda_emulation.h)"); });
  m.def("empty_cache", []() {}, "No-op: emulated buffers are freed at once.");
  m.attr("__checks_built__") = needle::cuda_emulation::ChecksBuilt();
  m.def("checks_enabled", &needle::cuda_emulation::ChecksEnabled,
        "Whether kernels run with the access checks: out-of-bounds global accesses, uninitialised "
        "and racing __shared__ accesses raise RuntimeError (src/cuda_emulation.h).");
  m.def("set_checks", &needle::cuda_emulation::SetChecks, pybind11::arg("enabled"),
        "Turn the access checks on or off; returns the previous setting. RuntimeError when this "
        "build has no checks to turn on.");
#else
  m.attr("__device_name__") = "cuda";
  m.attr("__emulated__") = false;
  m.def("device_count", []() {
    int count = 0;
    return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
  }, "GPUs this process can use (0 without a driver or GPU).");
  m.def("empty_cache", &EmptyCache, "Hand the device buffers kept for reuse back to CUDA.");
  m.def("device_name", []() {
    cudaDeviceProp prop;
    NEEDLE_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    return std::string(prop.name);
  });
#endif
  m.attr("__tile__") = pybind11::make_tuple(kBM, kBN, kBK, kTM, kTN);
  needle::BindBackend<Backend>(m);
}
