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
// Buffers are flat device arrays of float32 or float64. The bindings at the bottom (given code)
// check sizes and dtypes, then dispatch to a kernel template on the element type T; you write
// the kernels. Thread indexing follows the CUDA C++ Programming Guide (section 5.2, "Thread
// Hierarchy"); the tiled matmul is the shared-memory blocking of Kirk & Hwu, "Programming
// Massively Parallel Processors", 4th ed., chapter 5, with a register tile per thread as in
// V. Volkov & J. Demmel, "Benchmarking GPUs to tune dense linear algebra", SC 2008.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_emulation.h"
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
inline void* DeviceAlloc(size_t bytes) {
  void* ptr = std::malloc(std::max<size_t>(bytes, 1));
  if (ptr == nullptr) ThrowMemoryError("cannot allocate " + std::to_string(bytes) + " bytes (emulated device)");
  return ptr;
}
inline void DeviceFree(void* ptr, size_t) { std::free(ptr); }
inline void CopyToDevice(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
inline void CopyToHost(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
inline void CopyOnDevice(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
inline void CheckLaunch(const char*) {}  // NEEDLE_LAUNCH already rethrew any kernel exception
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

// One thread per element: the grid that covers n elements.
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

// The place in a strided buffer of the element whose row-major index is gid.
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
  // TODO (hw4, question 1): implement CompactKernel (Compact and setitem)
  NEEDLE_NOT_IMPLEMENTED("CompactKernel: hw4");
}

template <typename T>
__global__ void EwiseSetitemKernel(const T* a, T* out, size_t size, CudaVec shape, CudaVec strides, size_t offset) {
  // The inverse of CompactKernel: out[the strided place of element gid] = a[gid].
  // TODO (hw4, question 1): implement EwiseSetitemKernel (Compact and setitem)
  NEEDLE_NOT_IMPLEMENTED("EwiseSetitemKernel: hw4");
}

template <typename T>
__global__ void ScalarSetitemKernel(T val, T* out, size_t size, CudaVec shape, CudaVec strides, size_t offset) {
  // TODO (hw4, question 1): implement ScalarSetitemKernel (Compact and setitem)
  NEEDLE_NOT_IMPLEMENTED("ScalarSetitemKernel: hw4");
}

// ---- element-wise kernels --------------------------------------------------------------------
// `op` is one of the function objects in the bindings (Add, Exp, ...); one thread per element.

template <typename T, typename Op>
__global__ void EwiseBinaryKernel(const T* a, const T* b, T* out, size_t size, Op op) {
  // TODO (hw4, question 2): implement EwiseBinaryKernel (Element-wise kernels)
  NEEDLE_NOT_IMPLEMENTED("EwiseBinaryKernel: hw4");
}

template <typename T, typename Op>
__global__ void ScalarBinaryKernel(const T* a, T val, T* out, size_t size, Op op) {
  // TODO (hw4, question 2): implement ScalarBinaryKernel (Element-wise kernels)
  NEEDLE_NOT_IMPLEMENTED("ScalarBinaryKernel: hw4");
}

template <typename T, typename Op>
__global__ void EwiseUnaryKernel(const T* a, T* out, size_t size, Op op) {
  // TODO (hw4, question 2): implement EwiseUnaryKernel (Element-wise kernels)
  NEEDLE_NOT_IMPLEMENTED("EwiseUnaryKernel: hw4");
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
  // TODO (hw4, question 3): implement ReduceRowsKernel (Reductions)
  NEEDLE_NOT_IMPLEMENTED("ReduceRowsKernel: hw4");
}

// Column reductions: a block of kColumnsX x kColumnsY threads per kColumnsX outputs.
constexpr unsigned int kColumnsX = 32, kColumnsY = 32;

template <typename T, typename Op>
__global__ void ReduceColumnsKernel(const T* a, T* out, size_t outer, size_t size, size_t inner, T init, Op op) {
  // inner > 1. Block b reduces columns x * kColumnsX ... of slab o, where o = b / blocks_x and
  // x = b % blocks_x (blocks_x = ceil(inner / kColumnsX)). threadIdx.x picks the column, so a
  // warp reads kColumnsX neighbouring elements at once (coalesced); threadIdx.y takes every
  // kColumnsY-th row. The kColumnsY partial results of each column then meet in shared memory.
  // TODO (hw4, question 3): implement ReduceColumnsKernel (Reductions)
  NEEDLE_NOT_IMPLEMENTED("ReduceColumnsKernel: hw4");
}

// ---- matrix multiplication -------------------------------------------------------------------

template <typename T>
__global__ void MatmulNaiveKernel(const T* a, const T* b, T* out, size_t m, size_t n, size_t p) {
  // out (m x p) = a (m x n) @ b (n x p): one thread per output element, a 2-D grid of 16 x 16
  // blocks with x along the columns of out.
  // TODO (hw4, question 4): implement MatmulNaiveKernel (Matrix multiplication)
  NEEDLE_NOT_IMPLEMENTED("MatmulNaiveKernel: hw4");
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
__global__ void MatmulTiledKernel(const T* a, const T* b, T* out, size_t m, size_t n, size_t p) {
  // The fast kernel, same contract as MatmulNaiveKernel, launched with kThreads threads per
  // block and one block per kBM x kBN tile of out. For each kBK-wide slice of n: the block's
  // threads load the a tile (kBM x kBK, stored transposed) and the b tile (kBK x kBN) into
  // shared memory, zero outside the matrices; __syncthreads(); each thread accumulates its
  // kTM x kTN outer products from shared memory through registers; __syncthreads() again
  // before the next slice overwrites the tiles. Each slice is fetched into registers while the
  // one before is being used, so the loads' latency hides behind arithmetic.
  // TODO (hw4, question 4): implement MatmulTiledKernel (Matrix multiplication)
  NEEDLE_NOT_IMPLEMENTED("MatmulTiledKernel: hw4");
}

// ---- bindings (given code): checks, launches, dispatch on dtype ------------------------------

// The view checks of ndarray_backend_common.h, and at most kMaxDims axes.
size_t CheckCudaView(const char* name, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                     int64_t offset, size_t size) {
  const size_t count = CheckView(name, shape, strides, offset, size);
  ToCudaVec(shape);
  return count;
}

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

template <typename Op>
void BindBinary(py::module_& m, const char* ewise, const char* scalar) {
  m.def(ewise, [ewise](const CudaArray& a, const CudaArray& b, CudaArray* out) {
    CheckSameDtype(ewise, a, b);
    CheckSameDtype(ewise, a, *out);
    if (a.size != out->size || b.size != out->size)
      throw py::value_error(std::string(ewise) + ": sizes " + std::to_string(a.size) + ", " +
                            std::to_string(b.size) + " and " + std::to_string(out->size) + " differ");
    Dispatch(a, [&](auto t) {
      using T = decltype(t);
      const Grid g = GridFor(out->size);
      auto kernel = &EwiseBinaryKernel<T, Op>;
      NEEDLE_LAUNCH(kernel, g.blocks, g.threads, a.data<T>(), b.data<T>(), out->data<T>(), out->size, Op{});
      CheckLaunch("EwiseBinaryKernel");
    });
  }, py::arg("a"), py::arg("b"), py::arg("out"));
  m.def(scalar, [scalar](const CudaArray& a, double val, CudaArray* out) {
    CheckSameDtype(scalar, a, *out);
    CheckSize(scalar, "out", *out, a.size);
    Dispatch(a, [&](auto t) {
      using T = decltype(t);
      const Grid g = GridFor(a.size);
      auto kernel = &ScalarBinaryKernel<T, Op>;
      NEEDLE_LAUNCH(kernel, g.blocks, g.threads, a.data<T>(), static_cast<T>(val), out->data<T>(), a.size, Op{});
      CheckLaunch("ScalarBinaryKernel");
    });
  }, py::arg("a"), py::arg("val"), py::arg("out"));
}

template <typename Op>
void BindUnary(py::module_& m, const char* name) {
  m.def(name, [name](const CudaArray& a, CudaArray* out) {
    CheckSameDtype(name, a, *out);
    CheckSize(name, "out", *out, a.size);
    Dispatch(a, [&](auto t) {
      using T = decltype(t);
      const Grid g = GridFor(a.size);
      auto kernel = &EwiseUnaryKernel<T, Op>;
      NEEDLE_LAUNCH(kernel, g.blocks, g.threads, a.data<T>(), out->data<T>(), a.size, Op{});
      CheckLaunch("EwiseUnaryKernel");
    });
  }, py::arg("a"), py::arg("out"));
}

template <bool kTiled>
void BindMatmul(py::module_& m, const char* name) {
  m.def(name, [name](const CudaArray& a, const CudaArray& b, CudaArray* out, int64_t batch_in, int64_t m_in,
                     int64_t n_in, int64_t p_in) {
    const size_t batch = CheckDim(name, "batch", batch_in), rows = CheckDim(name, "m", m_in),
                 inner = CheckDim(name, "n", n_in), cols = CheckDim(name, "p", p_in);
    CheckSameDtype(name, a, b);
    CheckSameDtype(name, a, *out);
    CheckSize(name, "a", a, CheckedProduct(name, "batch x m x n =", {batch, rows, inner}));
    CheckSize(name, "b", b, CheckedProduct(name, "batch x n x p =", {batch, inner, cols}));
    CheckSize(name, "out", *out, CheckedProduct(name, "batch x m x p =", {batch, rows, cols}));
    if (rows == 0 || cols == 0) return;
    Dispatch(a, [&](auto t) {
      using T = decltype(t);
      for (size_t i = 0; i < batch; ++i) {
        const T* ai = a.data<T>() + i * rows * inner;
        const T* bi = b.data<T>() + i * inner * cols;
        T* oi = out->data<T>() + i * rows * cols;
        if (kTiled) {
          const dim3 grid(static_cast<unsigned int>((cols + kBN - 1) / kBN),
                          static_cast<unsigned int>((rows + kBM - 1) / kBM));
          auto kernel = &MatmulTiledKernel<T>;
          NEEDLE_LAUNCH(kernel, grid, dim3(kThreads), ai, bi, oi, rows, inner, cols);
          CheckLaunch("MatmulTiledKernel");
        } else {
          const dim3 grid(static_cast<unsigned int>((cols + 15) / 16), static_cast<unsigned int>((rows + 15) / 16));
          auto kernel = &MatmulNaiveKernel<T>;
          NEEDLE_LAUNCH(kernel, grid, dim3(16, 16), ai, bi, oi, rows, inner, cols);
          CheckLaunch("MatmulNaiveKernel");
        }
      }
    });
  }, py::arg("a"), py::arg("b"), py::arg("out"), py::arg("batch"), py::arg("m"), py::arg("n"), py::arg("p"));
}

template <bool kMax>
void BindReduce(py::module_& m, const char* name) {
  m.def(name, [name](const CudaArray& a, CudaArray* out, int64_t outer_in, int64_t size_in, int64_t inner_in) {
    const size_t outer = CheckDim(name, "outer", outer_in), size = CheckDim(name, "size", size_in),
                 inner = CheckDim(name, "inner", inner_in);
    CheckSameDtype(name, a, *out);
    CheckSize(name, "a", a, CheckedProduct(name, "outer x size x inner =", {outer, size, inner}));
    CheckSize(name, "out", *out, CheckedProduct(name, "outer x inner =", {outer, inner}));
    const size_t blocks = inner == 1 ? outer : outer * ((inner + kColumnsX - 1) / kColumnsX);
    if (blocks > kMaxBlocks)
      throw py::value_error(std::string(name) + ": outer " + std::to_string(outer) + " x inner " +
                            std::to_string(inner) + " needs " + std::to_string(blocks) +
                            " blocks, more than CUDA's grid limit of 2^31 - 1");
    if (kMax && size == 0) throw py::value_error(std::string(name) + ": cannot reduce an empty axis");
    if (outer * inner == 0) return;
    Dispatch(a, [&](auto t) {
      using T = decltype(t);
      const T init = kMax ? -std::numeric_limits<T>::infinity() : T(0);
      auto launch = [&](auto op) {
        using Op = decltype(op);
        if (inner == 1) {
          auto kernel = &ReduceRowsKernel<T, Op>;
          NEEDLE_LAUNCH(kernel, dim3(static_cast<unsigned int>(outer)), dim3(kReduceThreads), a.data<T>(),
                        out->data<T>(), size, init, op);
          CheckLaunch("ReduceRowsKernel");
        } else {
          auto kernel = &ReduceColumnsKernel<T, Op>;
          NEEDLE_LAUNCH(kernel, dim3(static_cast<unsigned int>(blocks)), dim3(kColumnsX, kColumnsY), a.data<T>(),
                        out->data<T>(), outer, size, inner, init, op);
          CheckLaunch("ReduceColumnsKernel");
        }
      };
      if (kMax) launch(Maximum{});
      else launch(Add{});
    });
  }, py::arg("a"), py::arg("out"), py::arg("outer"), py::arg("size"), py::arg("inner"));
}

// One LSTM step's gate arithmetic, fused (as PyTorch's fused LSTM cell): pre (B x 4H) holds the
// pre-activations of the gates i, f, g, o side by side, c (B x H) the cell state;
//   c' = sigmoid(f) c + sigmoid(i) tanh(g),   h' = sigmoid(o) tanh(c')
// and the backward pass, from (dh', dc'), recomputes the gates and gives (d pre, d c).
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

template <typename T>
py::array_t<T> ToNumpy(const CudaArray& a, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                       int64_t offset) {
  // The whole buffer comes to the host, and NumPy does the strided walk, so this works before
  // CompactKernel does.
  CheckCudaView("to_numpy", shape, strides, offset, a.size);
  std::vector<T> host(a.size);
  CopyToHost(host.data(), a.ptr, a.size * sizeof(T));
  std::vector<py::ssize_t> byte_strides;
  for (int64_t s : strides) byte_strides.push_back(s * static_cast<py::ssize_t>(sizeof(T)));
  // Without a base object, pybind11 copies the view into a new, compact array.
  return py::array_t<T>(std::vector<py::ssize_t>(shape.begin(), shape.end()), byte_strides,
                        host.data() + offset);
}

}  // namespace cuda
}  // namespace needle

PYBIND11_MODULE(NEEDLE_CUDA_MODULE, m) {
  namespace py = pybind11;
  using namespace needle;
  using namespace needle::cuda;
  using Shape = std::vector<int64_t>;
  m.doc() = "needle's CUDA backend: the kernels behind ndl.cuda() (see src/ndarray_backend_cuda.cu)";
#ifdef NEEDLE_CUDA_EMULATION
  m.attr("__device_name__") = "cuda_emu";
  m.attr("__emulated__") = true;
  m.def("device_count", []() { return 1; }, "Emulated: always one device, the host CPU.");
  m.def("device_name", []() { return std::string("CPU emulation (src/cuda_emulation.h)"); });
  m.def("empty_cache", []() {}, "No-op: emulated buffers are freed at once.");
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
  m.attr("__tile__") = py::make_tuple(kBM, kBN, kBK, kTM, kTN);

  py::class_<CudaArray>(m, "Array", py::module_local())  // local: both builds define CudaArray
      .def(py::init<int64_t, const std::string&>(), py::arg("size"), py::arg("dtype") = "float32",
           py::return_value_policy::take_ownership)
      .def("ptr", &CudaArray::ptr_as_int)
      .def_readonly("size", &CudaArray::size)
      .def_property_readonly("dtype", &CudaArray::dtype_name);

  m.def("to_numpy", [](const CudaArray& a, const Shape& shape, const Shape& strides, int64_t offset) -> py::object {
    if (a.dtype == DType::kFloat32) return ToNumpy<float>(a, shape, strides, offset);
    return ToNumpy<double>(a, shape, strides, offset);
  });
  m.def("from_numpy", [](py::array a, CudaArray* out) {
    const std::string kind = py::str(a.dtype());
    if (kind != out->dtype_name())
      throw py::type_error("from_numpy: array dtype " + kind + " differs from the buffer's " + out->dtype_name());
    if (!(a.flags() & py::array::c_style)) throw py::value_error("from_numpy: the array must be C-contiguous");
    if (static_cast<size_t>(a.size()) > out->size)
      throw py::value_error("from_numpy: " + std::to_string(a.size()) + " elements do not fit in a buffer of " +
                            std::to_string(out->size));
    CopyToDevice(out->ptr, a.data(), a.size() * out->elem_size);
  });
  m.def("fill", [](CudaArray* out, double val) {
    Dispatch(*out, [&](auto t) {
      using T = decltype(t);
      const Grid g = GridFor(out->size);
      auto kernel = &FillKernel<T>;
      NEEDLE_LAUNCH(kernel, g.blocks, g.threads, out->data<T>(), static_cast<T>(val), out->size);
      CheckLaunch("FillKernel");
    });
  });

  // The view kernels' offsets are int64_t here so that a negative one is named, not refused by
  // pybind11; CheckCudaView passes only offsets in [0, size).
  m.def("compact", [](const CudaArray& a, CudaArray* out, const Shape& shape, const Shape& strides, int64_t offset) {
    CheckSameDtype("compact", a, *out);
    const size_t count = CheckCudaView("compact", shape, strides, offset, a.size);
    CheckSize("compact", "out", *out, count);
    if (count == 0) return;
    Dispatch(a, [&](auto t) {
      using T = decltype(t);
      const Grid g = GridFor(count);
      auto kernel = &CompactKernel<T>;
      NEEDLE_LAUNCH(kernel, g.blocks, g.threads, a.data<T>(), out->data<T>(), count, ToCudaVec(shape),
                    ToCudaVec(strides), offset);
      CheckLaunch("CompactKernel");
    });
  });
  m.def("ewise_setitem", [](const CudaArray& a, CudaArray* out, const Shape& shape, const Shape& strides, int64_t offset) {
    CheckSameDtype("ewise_setitem", a, *out);
    const size_t count = CheckCudaView("ewise_setitem", shape, strides, offset, out->size);
    CheckSize("ewise_setitem", "a", a, count);
    if (count == 0) return;
    // a and out one buffer (x[::-1] = x): the view is written from a copy of a, as NumPy does.
    std::unique_ptr<CudaArray> copy;
    if (a.ptr == out->ptr) {
      copy = std::make_unique<CudaArray>(static_cast<int64_t>(count), a.dtype_name());
      CopyOnDevice(copy->ptr, a.ptr, count * a.elem_size);
    }
    const CudaArray& src = copy ? *copy : a;
    Dispatch(a, [&](auto t) {
      using T = decltype(t);
      const Grid g = GridFor(count);
      auto kernel = &EwiseSetitemKernel<T>;
      NEEDLE_LAUNCH(kernel, g.blocks, g.threads, src.data<T>(), out->data<T>(), count, ToCudaVec(shape),
                    ToCudaVec(strides), offset);
      CheckLaunch("EwiseSetitemKernel");
    });
  });
  m.def("scalar_setitem", [](int64_t size, double val, CudaArray* out, const Shape& shape, const Shape& strides,
                             int64_t offset) {
    const size_t count = CheckCudaView("scalar_setitem", shape, strides, offset, out->size);
    if (size < 0 || count != static_cast<size_t>(size))
      throw py::value_error("scalar_setitem: size " + std::to_string(size) + " but the view has " +
                            std::to_string(count) + " elements");
    if (count == 0) return;
    Dispatch(*out, [&](auto t) {
      using T = decltype(t);
      const Grid g = GridFor(count);
      auto kernel = &ScalarSetitemKernel<T>;
      NEEDLE_LAUNCH(kernel, g.blocks, g.threads, static_cast<T>(val), out->data<T>(), count, ToCudaVec(shape),
                    ToCudaVec(strides), offset);
      CheckLaunch("ScalarSetitemKernel");
    });
  });

  BindBinary<Add>(m, "ewise_add", "scalar_add");
  BindBinary<Mul>(m, "ewise_mul", "scalar_mul");
  BindBinary<Div>(m, "ewise_div", "scalar_div");
  BindBinary<Pow>(m, "ewise_power", "scalar_power");
  BindBinary<Maximum>(m, "ewise_maximum", "scalar_maximum");
  BindBinary<Eq>(m, "ewise_eq", "scalar_eq");
  BindBinary<Ge>(m, "ewise_ge", "scalar_ge");
  BindUnary<Log>(m, "ewise_log");
  BindUnary<Exp>(m, "ewise_exp");
  BindUnary<Tanh>(m, "ewise_tanh");
  BindUnary<Sigmoid>(m, "ewise_sigmoid");
  m.def("lstm_gates", [](const CudaArray& pre, const CudaArray& c, CudaArray* h_out, CudaArray* c_out,
                         int64_t batch_in, int64_t hidden_in) {
    const size_t batch = CheckDim("lstm_gates", "batch", batch_in), hidden = CheckDim("lstm_gates", "hidden", hidden_in);
    CheckLstm<CudaArray>("lstm_gates", pre, {&c, h_out, c_out}, nullptr, batch, hidden);
    if (batch * hidden == 0) return;
    Dispatch(pre, [&](auto t) {
      using T = decltype(t);
      const Grid g = GridFor(batch * hidden);
      auto kernel = &LstmGatesKernel<T>;
      NEEDLE_LAUNCH(kernel, g.blocks, g.threads, pre.data<T>(), c.data<T>(), h_out->data<T>(),
                    c_out->data<T>(), batch, hidden);
      CheckLaunch("LstmGatesKernel");
    });
  });
  m.def("lstm_gates_backward", [](const CudaArray& pre, const CudaArray& c, const CudaArray& dh,
                                  const CudaArray& dc, CudaArray* dpre, CudaArray* dc_out, int64_t batch_in,
                                  int64_t hidden_in) {
    const size_t batch = CheckDim("lstm_gates_backward", "batch", batch_in),
                 hidden = CheckDim("lstm_gates_backward", "hidden", hidden_in);
    CheckLstm<CudaArray>("lstm_gates_backward", pre, {&c, &dh, &dc, dc_out}, dpre, batch, hidden);
    if (batch * hidden == 0) return;
    Dispatch(pre, [&](auto t) {
      using T = decltype(t);
      const Grid g = GridFor(batch * hidden);
      auto kernel = &LstmGatesBackwardKernel<T>;
      NEEDLE_LAUNCH(kernel, g.blocks, g.threads, pre.data<T>(), c.data<T>(), dh.data<T>(), dc.data<T>(),
                    dpre->data<T>(), dc_out->data<T>(), batch, hidden);
      CheckLaunch("LstmGatesBackwardKernel");
    });
  });

  // Rows of a table by index (an embedding lookup) and its adjoint, adding rows back.
  using Indices = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
  m.def("take_rows", [](const CudaArray& a, Indices idx, CudaArray* out, int64_t cols_in) {
    const size_t cols = CheckDim("take_rows", "cols", cols_in);
    CheckSameDtype("take_rows", a, *out);
    const std::vector<int64_t> rows = CheckRows("take_rows", idx, a.size, cols);
    CheckSize("take_rows", "out", *out, CheckedProduct("take_rows", "rows x cols =", {rows.size(), cols}));
    if (rows.empty()) return;
    RowIndices on_device(rows);
    Dispatch(a, [&](auto t) {
      using T = decltype(t);
      const Grid g = GridFor(rows.size() * cols);
      auto kernel = &TakeRowsKernel<T>;
      NEEDLE_LAUNCH(kernel, g.blocks, g.threads, a.data<T>(), on_device.ptr, out->data<T>(), rows.size(), cols);
      CheckLaunch("TakeRowsKernel");
    });
  }, py::arg("a"), py::arg("idx"), py::arg("out"), py::arg("cols"));
  m.def("index_add_rows", [](const CudaArray& a, Indices idx, CudaArray* out, int64_t cols_in) {
    const size_t cols = CheckDim("index_add_rows", "cols", cols_in);
    CheckSameDtype("index_add_rows", a, *out);
    const std::vector<int64_t> rows = CheckRows("index_add_rows", idx, out->size, cols);
    CheckSize("index_add_rows", "a", a, CheckedProduct("index_add_rows", "rows x cols =", {rows.size(), cols}));
    if (rows.empty()) return;
    RowIndices on_device(rows);
    Dispatch(a, [&](auto t) {
      using T = decltype(t);
      const Grid g = GridFor(cols);
      auto kernel = &IndexAddRowsKernel<T>;
      NEEDLE_LAUNCH(kernel, g.blocks, g.threads, a.data<T>(), on_device.ptr, out->data<T>(), rows.size(), cols);
      CheckLaunch("IndexAddRowsKernel");
    });
  }, py::arg("a"), py::arg("idx"), py::arg("out"), py::arg("cols"));

  BindMatmul<true>(m, "matmul");
  BindMatmul<false>(m, "matmul_naive");
  BindReduce<false>(m, "reduce_sum");
  BindReduce<true>(m, "reduce_max");
}
