// needle's C++ CPU backend (hw3): the kernels behind ndl.cpu(), with the same interface as
// python/needle/backend_ndarray/ndarray_backend_numpy.py.
//
// Every buffer is a flat, 64-byte-aligned AlignedArray of float32 or float64. The bindings
// (src/ndarray_backend_bindings.h, given code, shared with the CUDA backend) check sizes and
// dtypes, so a bad call raises a Python exception, then dispatch through `Backend` at the
// bottom to a kernel template on the element type T. You write the kernels.
//
// Speed: element-wise loops and reductions are written so that the compiler vectorises them
// (`#pragma omp simd`) and split across threads with OpenMP when the work is large enough;
// the fast matmul packs panels of A and B and runs a register-blocked micro-kernel on
// GCC/Clang vector types, after Goto & van de Geijn, "Anatomy of High-Performance Matrix
// Multiplication", ACM TOMS 34(3), 2008, and the BLIS micro-kernel design (Van Zee & van de
// Geijn, ACM TOMS 41(3), 2015).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <stdexcept>
#include <string>
#include <vector>

#include "ndarray_backend_bindings.h"
#include "ndarray_backend_common.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __linux__
#include <sys/mman.h>
#endif
#ifdef __SANITIZE_ADDRESS__  // make SANITIZE=address (GCC)
#include <sanitizer/asan_interface.h>
#endif

namespace needle {
namespace cpu {

namespace py = pybind11;

constexpr size_t kAlignment = 64;
// Buffers of at least kHugeMin bytes are aligned to 2 MiB and offered to the kernel as
// transparent huge pages (as NumPy does): a fresh 40 MB buffer then costs 20 page faults
// instead of 10,000, which is most of the time of one pass of an element-wise kernel over it.
constexpr size_t kHugeMin = size_t(4) << 20, kHugePage = size_t(2) << 20;
// Below this many elements a loop runs on one thread: starting threads costs more than it saves.
constexpr ptrdiff_t kParallelMin = 1 << 15;

// Large buffers freed by Python are kept for reuse, up to 512 MiB in all (BufferCache): a
// kept buffer is already mapped, so it costs neither page faults nor the kernel's zeroing of
// fresh pages.
inline BufferCache& large_buffers() {
  static auto* cache = new BufferCache(size_t(512) << 20);  // never destroyed: buffers may outlive exit
  return *cache;
}

// Under AddressSanitizer, marks the `bytes - used` bytes past an array's end, allocated only to
// round it up to the alignment, as unaddressable: an off-by-one is then reported whatever the
// array's size. MarkPadding(ptr, bytes, bytes) makes the whole buffer addressable again.
inline void MarkPadding(void* ptr, size_t used, size_t bytes) {
#ifdef __SANITIZE_ADDRESS__
  __asan_unpoison_memory_region(ptr, bytes);
  __asan_poison_memory_region(static_cast<char*>(ptr) + used, bytes - used);
#else
  (void)ptr, (void)used, (void)bytes;
#endif
}

struct AlignedArray {
  // A ValueError names a negative size or one whose byte count overflows (CheckedBytes); a
  // MemoryError one the system cannot provide.
  AlignedArray(int64_t size_in, const std::string& dtype) : size(CheckDim("Array", "size", size_in)) {
    this->dtype = ParseDType(dtype, &elem_size);
    const size_t need = CheckedBytes("Array", size, elem_size, dtype);  // <= PTRDIFF_MAX: rounding cannot wrap
    const size_t align = need >= kHugeMin ? kHugePage : kAlignment;
    bytes = std::max<size_t>(need, align);
    bytes = (bytes + align - 1) / align * align;
    if (align == kHugePage && (ptr = large_buffers().Take(bytes)) != nullptr) {
      MarkPadding(ptr, need, bytes);
      return;
    }
    ptr = std::aligned_alloc(align, bytes);
    if (ptr == nullptr)
      ThrowMemoryError("Array: cannot allocate " + std::to_string(size) + " elements of " + dtype + " (" +
                       std::to_string(bytes) + " bytes)");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == kHugePage) madvise(ptr, bytes, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
    MarkPadding(ptr, need, bytes);
  }
  ~AlignedArray() {
    MarkPadding(ptr, bytes, bytes);
    if (bytes < kHugeMin || !large_buffers().Keep(ptr, bytes)) std::free(ptr);
  }
  AlignedArray(const AlignedArray&) = delete;
  AlignedArray& operator=(const AlignedArray&) = delete;

  template <typename T>
  T* data() const { return static_cast<T*>(ptr); }
  size_t ptr_as_int() const { return reinterpret_cast<size_t>(ptr); }
  std::string dtype_name() const { return DTypeName(dtype); }

  void* ptr;
  size_t size;
  size_t elem_size;
  size_t bytes;  // allocated, rounded up to the alignment
  DType dtype;
};

inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// ---- strided copies ------------------------------------------------------------------------

// Calls body(i, j) for every element of the strided view (shape, strides, offset): i is the
// element's row-major index (its place in a compact array), j its index in the strided buffer.
// Rows (all axes but the last) are split across threads when the view is large.
//
// Write this once and Compact, EwiseSetitem and ScalarSetitem are one line each.
template <typename Body>
void ForEachStrided(const Shape& shape_in, const Shape& strides_in, size_t offset, Body body) {
  // TODO (hw3, question 2): implement ForEachStrided (Compact and setitem)
  throw std::runtime_error("not implemented: ForEachStrided: hw3");
}

template <typename T>
void Compact(const T* a, T* out, const Shape& shape, const Shape& strides, size_t offset) {
  // out[i] = a[j] for each element: i its row-major index, j its place in the strided a.
  // TODO (hw3, question 2): implement Compact (Compact and setitem)
  throw std::runtime_error("not implemented: Compact: hw3");
}

template <typename T>
void EwiseSetitem(const T* a, T* out, const Shape& shape, const Shape& strides, size_t offset) {
  // The inverse of Compact: out[j] = a[i].
  // TODO (hw3, question 2): implement EwiseSetitem (Compact and setitem)
  throw std::runtime_error("not implemented: EwiseSetitem: hw3");
}

template <typename T>
void ScalarSetitem(T val, T* out, const Shape& shape, const Shape& strides, size_t offset) {
  // out[j] = val for every element j of the strided view.
  // TODO (hw3, question 2): implement ScalarSetitem (Compact and setitem)
  throw std::runtime_error("not implemented: ScalarSetitem: hw3");
}

// ---- element-wise kernels --------------------------------------------------------------------
// `op` is one of the element-wise functors below (Add, Mul, Exp, ...); these
// loops apply it to every element, and nothing else: IEEE semantics come from the functors
// (maximum(NaN, 0) is NaN, NaN == NaN is 0; tests/hw3/test_bad_input.py). Each must run on several threads for large n and let the
// compiler vectorise the loop.

template <typename T, typename Op>
void EwiseBinary(const T* a, const T* b, T* out, size_t n, Op op) {
  // TODO (hw3, question 3): implement EwiseBinary (Element-wise kernels)
  throw std::runtime_error("not implemented: EwiseBinary: hw3");
}

template <typename T, typename Op>
void ScalarBinary(const T* a, T val, T* out, size_t n, Op op) {
  // TODO (hw3, question 3): implement ScalarBinary (Element-wise kernels)
  throw std::runtime_error("not implemented: ScalarBinary: hw3");
}

template <typename T, typename Op>
void EwiseUnary(const T* a, T* out, size_t n, Op op) {
  // TODO (hw3, question 3): implement EwiseUnary (Element-wise kernels)
  throw std::runtime_error("not implemented: EwiseUnary: hw3");
}

// ---- reductions ------------------------------------------------------------------------------
// a is compact with shape (outer, size, inner); out[o * inner + i] = reduce_j a[(o * size + j) * inner + i].
// Combine values only through `op` (Add, or Maximum, which propagates NaN): a NaN in a row
// makes its max NaN, as NumPy's (tests/hw3/test_bad_input.py checks this).

template <typename T, typename Op>
void Reduce(const T* a, T* out, size_t outer, size_t size, size_t inner, T init, Op op) {
  // TODO (hw3, question 4): implement Reduce (Reductions)
  throw std::runtime_error("not implemented: Reduce: hw3");
}

// ---- matrix multiplication -------------------------------------------------------------------

template <typename T>
void MatmulNaive(const T* a, const T* b, T* out, size_t m, size_t n, size_t p) {
  // The reference: out (m x p) = a (m x n) @ b (n x p), all compact and row-major, by three
  // loops. Order them so that the innermost loop walks memory contiguously.
  // TODO (hw3, question 5): implement MatmulNaive (Matrix multiplication)
  throw std::runtime_error("not implemented: MatmulNaive: hw3");
}

// Vector width in bytes the compiler targets: 64 with AVX-512, 32 with AVX, else 16.
#if defined(__AVX512F__)
constexpr size_t kVecBytes = 64;
#elif defined(__AVX__)
constexpr size_t kVecBytes = 32;
#else
constexpr size_t kVecBytes = 16;
#endif

// The micro-kernel's shape: an MR x NR block of out lives in registers (MR * NR / W vector
// accumulators, NR = 2 vectors of W lanes), updated with one rank-1 product per k.
template <typename T>
struct Tile {
  static constexpr size_t W = kVecBytes / sizeof(T);
  static constexpr size_t NR = 2 * W;
  static constexpr size_t MR = kVecBytes == 64 ? 8 : 6;
  static constexpr size_t KC = 256;            // k-panel: a KC x NR panel of b fits in L1
  static constexpr size_t MC = MR * 16;        // rows of a per block: MC x KC fits in L2
  typedef T Vec __attribute__((vector_size(kVecBytes)));
};

// An aligned scratch buffer of n elements, freed when it goes out of scope.
template <typename T>
struct Buffer {
  explicit Buffer(size_t n) : size(n) {
    data = static_cast<T*>(std::aligned_alloc(kAlignment, (std::max<size_t>(n, 1) * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment));
    if (data == nullptr) throw std::bad_alloc();
  }
  Buffer(Buffer&& other) noexcept : data(other.data), size(other.size) { other.data = nullptr; }
  Buffer& operator=(Buffer&& other) noexcept {
    std::swap(data, other.data);
    std::swap(size, other.size);
    return *this;
  }
  Buffer(const Buffer&) = delete;
  ~Buffer() { std::free(data); }
  T* data;
  size_t size;
};

// acc (MR x NR) = ap (kc x MR, packed) @ bp (kc x NR, packed); then out += or = acc.
template <typename T>
inline void MicroKernel(size_t kc, const T* __restrict__ ap, const T* __restrict__ bp,
                        T* out, size_t ldo, size_t mr, size_t nr, bool accumulate) {
  using K = Tile<T>;
  using Vec = typename K::Vec;
  Vec acc[K::MR][2];
  for (size_t i = 0; i < K::MR; ++i) acc[i][0] = acc[i][1] = Vec{} ;
  for (size_t k = 0; k < kc; ++k) {
    Vec b0, b1;
    std::memcpy(&b0, bp + k * K::NR, sizeof(Vec));
    std::memcpy(&b1, bp + k * K::NR + K::W, sizeof(Vec));
    const T* ak = ap + k * K::MR;
#pragma GCC unroll 8
    for (size_t i = 0; i < K::MR; ++i) {
      acc[i][0] += ak[i] * b0;
      acc[i][1] += ak[i] * b1;
    }
  }
  if (mr == K::MR && nr == K::NR) {
    for (size_t i = 0; i < K::MR; ++i) {
      T* row = out + i * ldo;
      for (size_t h = 0; h < 2; ++h) {
        Vec c = acc[i][h];
        if (accumulate) {
          Vec prev;
          std::memcpy(&prev, row + h * K::W, sizeof(Vec));
          c += prev;
        }
        std::memcpy(row + h * K::W, &c, sizeof(Vec));
      }
    }
    return;
  }
  alignas(kAlignment) T tmp[K::MR][K::NR];
  std::memcpy(tmp, acc, sizeof(tmp));
  for (size_t i = 0; i < mr; ++i)
    for (size_t j = 0; j < nr; ++j) out[i * ldo + j] = accumulate ? out[i * ldo + j] + tmp[i][j] : tmp[i][j];
}

template <typename T>
void Matmul(const T* a, const T* b, T* out, size_t m, size_t n, size_t p) {
  // The fast kernel, same contract as MatmulNaive. For each KC-deep slice of n: pack the slice of
  // b into NR-wide column panels and each MC-row block of a into MR-tall row panels (both
  // zero-padded, so edge tiles need no special case inside the micro-kernel), then run the
  // micro-kernel over every (MR x NR) tile, with row blocks split across threads.
  // TODO (hw3, question 5): implement Matmul (Matrix multiplication)
  throw std::runtime_error("not implemented: Matmul: hw3");
}

// ---- CMU needle's tiled matmul (given code) ---------------------------------------------------

// CMU needle's hw3 asks for `matmul_tiled` over arrays stored tile by tile, with the tile side in
// the module's `__tile_size__`; needle's own fast path is Matmul above (packed panels), and this
// kernel is kept so CMU's tests and notebooks run unchanged. With T = kTile, a is (m/T, n/T, T, T),
// b (n/T, p/T, T, T) and out (m/T, p/T, T, T), all compact, and m, n, p multiples of T: out's tile
// (i, j) = sum over k of a's tile (i, k) @ b's tile (k, j).
constexpr size_t kTile = 8;

template <typename T>
void MatmulTiled(const T* a, const T* b, T* out, size_t m, size_t n, size_t p) {
  constexpr size_t kTileSize = kTile * kTile;
  const size_t m_tiles = m / kTile, n_tiles = n / kTile, p_tiles = p / kTile;
  for (size_t i = 0; i < m_tiles; ++i) {
    for (size_t j = 0; j < p_tiles; ++j) {
      T* out_tile = out + (i * p_tiles + j) * kTileSize;
      std::fill(out_tile, out_tile + kTileSize, T(0));
      for (size_t k = 0; k < n_tiles; ++k) {
        const T* a_tile = a + (i * n_tiles + k) * kTileSize;
        const T* b_tile = b + (k * p_tiles + j) * kTileSize;
        for (size_t r = 0; r < kTile; ++r) {
          for (size_t c = 0; c < kTile; ++c) {
            const T arc = a_tile[r * kTile + c];
            for (size_t q = 0; q < kTile; ++q) out_tile[r * kTile + q] += arc * b_tile[c * kTile + q];
          }
        }
      }
    }
  }
}

// ---- element-wise functors (given code) ------------------------------------------------------

struct Add { template <typename T> T operator()(T x, T y) const { return x + y; } };
struct Mul { template <typename T> T operator()(T x, T y) const { return x * y; } };
struct Div { template <typename T> T operator()(T x, T y) const { return x / y; } };
// IEEE 754 semantics, the same on every device (NumPy's and PyTorch's):
// * pow is C99's (Annex F), for arrays and scalars alike: pow(x, +-0) = 1 and pow(1, y) = 1
//   even for NaN; pow(-inf, y) = +inf for y > 0 not an odd integer (so (-inf) ** 0.5 = inf), -inf
//   for odd y; a finite x < 0 to a non-integer y is NaN; pow(+-0, y < 0) = +-inf. NumPy's
//   np.power(x, y) agrees; its `x ** 0.5` (and PyTorch's) takes sqrt instead, giving nan there.
// * maximum propagates NaN from either operand (NumPy's np.maximum, not np.fmax), so relu(NaN)
//   and max over an axis holding a NaN are NaN; reductions must fold with `op`.
// * comparisons with NaN are false: eq and ge give 0.
struct Pow { template <typename T> T operator()(T x, T y) const { return std::pow(x, y); } };
struct Maximum {
  template <typename T> T operator()(T x, T y) const { return (x > y || x != x) ? x : y; }  // x != x: x is NaN
};
struct Eq { template <typename T> T operator()(T x, T y) const { return x == y ? T(1) : T(0); } };
struct Ge { template <typename T> T operator()(T x, T y) const { return x >= y ? T(1) : T(0); } };
struct Log { template <typename T> T operator()(T x) const { return std::log(x); } };
// exp in float32 without a library call, so that the loop vectorises: x = n ln2 + r with
// |r| <= ln2 / 2, exp(r) by Cephes' degree-6 minimax polynomial (S. L. Moshier, Cephes Math
// Library, expf.c; within 2 ulp), times 2^n built in the exponent bits, in two halves so that
// results that underflow to subnormals or overflow to inf come out right. float64 uses std::exp.
// A NaN x gives NaN through r, while n is taken from 0: converting NaN to int is undefined.
inline float FastExp(float x) {
  x = x > 89.0f ? 89.0f : x;
  x = x < -104.0f ? -104.0f : x;
  const float n = std::floor((x == x ? x : 0.0f) * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  const int32_t half = static_cast<int32_t>(n) / 2, rest = static_cast<int32_t>(n) - half;
  const int32_t bits1 = (half + 127) << 23, bits2 = (rest + 127) << 23;
  float scale1, scale2;
  std::memcpy(&scale1, &bits1, sizeof(float));
  std::memcpy(&scale2, &bits2, sizeof(float));
  return y * scale1 * scale2;
}

struct Exp {
  float operator()(float x) const { return FastExp(x); }
  double operator()(double x) const { return std::exp(x); }
};
struct Tanh { template <typename T> T operator()(T x) const { return std::tanh(x); } };
// exp(-x) overflows to inf for very negative x, and 1 / inf is the correct limit 0. Through Exp,
// float32 takes FastExp, so that loops over it vectorise.
struct Sigmoid { template <typename T> T operator()(T x) const { return T(1) / (T(1) + Exp{}(-x)); } };

// One LSTM step's gate arithmetic, fused (as PyTorch's fused LSTM cell): pre (B x 4H) holds the
// pre-activations of the gates i, f, g, o side by side, c (B x H) the cell state;
//   c' = sigmoid(f) c + sigmoid(i) tanh(g),   h' = sigmoid(o) tanh(c')
// and the backward pass, from (dh', dc'), recomputes the gates and gives (d pre, d c).
// The gates' tanh, for float32 on FastExp so that the loops below vectorise: 1 - 2 / (exp(2x) + 1)
// away from 0 and its Taylor series x - x^3/3 + 2x^5/15 near it, where the subtraction would
// cancel (within 1e-6 relative either way). Their sigmoid is the Sigmoid functor's.
inline float TanhGate(float x) {
  const float x2 = x * x;
  const float series = x * (1.0f + x2 * (-1.0f / 3.0f + x2 * (2.0f / 15.0f)));
  const float far = 1.0f - 2.0f / (FastExp(2.0f * x) + 1.0f);
  return std::fabs(x) < 0.0625f ? series : far;
}
inline double TanhGate(double x) { return std::tanh(x); }

template <typename T>
void LstmGates(const T* pre, const T* c, T* h_out, T* c_out, size_t batch, size_t hidden) {
  const Sigmoid sigm;
  const int64_t B = static_cast<int64_t>(batch), H = static_cast<int64_t>(hidden);
#pragma omp parallel for schedule(static) if (B * H > kParallelMin / 8)
  for (int64_t b = 0; b < B; ++b) {
    const T* p = pre + b * 4 * H;
    const T* cb = c + b * H;
    T *hb = h_out + b * H, *cob = c_out + b * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T i = sigm(p[j]), f = sigm(p[H + j]), g = TanhGate(p[2 * H + j]), o = sigm(p[3 * H + j]);
      const T c2 = f * cb[j] + i * g;
      cob[j] = c2;
      hb[j] = o * TanhGate(c2);
    }
  }
}

template <typename T>
void LstmGatesBackward(const T* pre, const T* c, const T* dh, const T* dc, T* dpre, T* dc_out,
                       size_t batch, size_t hidden) {
  const Sigmoid sigm;
  const int64_t B = static_cast<int64_t>(batch), H = static_cast<int64_t>(hidden);
#pragma omp parallel for schedule(static) if (B * H > kParallelMin / 8)
  for (int64_t b = 0; b < B; ++b) {
    const T* p = pre + b * 4 * H;
    T* d = dpre + b * 4 * H;
    const T *cb = c + b * H, *dhb = dh + b * H, *dcb = dc + b * H;
    T* dcob = dc_out + b * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T i = sigm(p[j]), f = sigm(p[H + j]), g = TanhGate(p[2 * H + j]), o = sigm(p[3 * H + j]);
      const T c2 = f * cb[j] + i * g, t = TanhGate(c2);
      const T dc2 = dcb[j] + dhb[j] * o * (T(1) - t * t);  // c' reaches the loss directly and via h'
      d[j] = dc2 * g * i * (T(1) - i);
      d[H + j] = dc2 * cb[j] * f * (T(1) - f);
      d[2 * H + j] = dc2 * i * (T(1) - g * g);
      d[3 * H + j] = dhb[j] * t * o * (T(1) - o);
      dcob[j] = dc2 * f;
    }
  }
}


// ---- the binding table's launchers (given code) ----------------------------------------------

// The kernels above under the names of the shared binding table (src/ndarray_backend_bindings.h),
// which checks every argument before calling them.
struct Backend {
  using Array = AlignedArray;
  static constexpr bool kModuleLocal = false;
  using Add = cpu::Add;
  using Mul = cpu::Mul;
  using Div = cpu::Div;
  using Pow = cpu::Pow;
  using Maximum = cpu::Maximum;
  using Eq = cpu::Eq;
  using Ge = cpu::Ge;
  using Log = cpu::Log;
  using Exp = cpu::Exp;
  using Tanh = cpu::Tanh;
  using Sigmoid = cpu::Sigmoid;

  static size_t CheckView(const char* name, const Shape& shape, const Shape& strides, int64_t offset, size_t size) {
    return needle::CheckView(name, shape, strides, offset, size);
  }
  static void CheckReduce(const char*, size_t, size_t) {}  // any shape that passed the size checks
  static void CopyToDevice(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
  static void CopyOnDevice(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }

  // A NumPy copy of the strided view (NumPy does the strided walk, so this works before Compact does).
  template <typename T>
  static py::array_t<T> ToNumpy(const Array& a, const Shape& shape, const Shape& strides, int64_t offset) {
    std::vector<py::ssize_t> byte_strides;
    for (int64_t s : strides) byte_strides.push_back(s * static_cast<py::ssize_t>(sizeof(T)));
    // Without a base object, pybind11 copies the view into a new, compact array.
    return py::array_t<T>(std::vector<py::ssize_t>(shape.begin(), shape.end()), byte_strides,
                          a.data<T>() + offset);
  }
  template <typename T>
  static void Fill(Array* out, T val) { std::fill(out->data<T>(), out->data<T>() + out->size, val); }

  template <typename T>
  static void Compact(const Array& a, Array* out, const Shape& shape, const Shape& strides, size_t offset, size_t) {
    cpu::Compact<T>(a.data<T>(), out->data<T>(), shape, strides, offset);
  }
  template <typename T>
  static void EwiseSetitem(const Array& a, Array* out, const Shape& shape, const Shape& strides, size_t offset,
                           size_t) {
    cpu::EwiseSetitem<T>(a.data<T>(), out->data<T>(), shape, strides, offset);
  }
  template <typename T>
  static void ScalarSetitem(T val, Array* out, const Shape& shape, const Shape& strides, size_t offset, size_t) {
    cpu::ScalarSetitem<T>(val, out->data<T>(), shape, strides, offset);
  }

  template <typename T, typename Op>
  static void EwiseBinary(const Array& a, const Array& b, Array* out, size_t n) {
    cpu::EwiseBinary<T>(a.data<T>(), b.data<T>(), out->data<T>(), n, Op{});
  }
  template <typename T, typename Op>
  static void ScalarBinary(const Array& a, T val, Array* out, size_t n) {
    cpu::ScalarBinary<T>(a.data<T>(), val, out->data<T>(), n, Op{});
  }
  template <typename T, typename Op>
  static void EwiseUnary(const Array& a, Array* out, size_t n) {
    cpu::EwiseUnary<T>(a.data<T>(), out->data<T>(), n, Op{});
  }
  template <typename T, typename Op>
  static void Reduce(const Array& a, Array* out, size_t outer, size_t size, size_t inner, T init) {
    cpu::Reduce<T>(a.data<T>(), out->data<T>(), outer, size, inner, init, Op{});
  }

  template <typename T>
  static void Matmul(const T* a, const T* b, T* out, size_t m, size_t n, size_t p) {
    cpu::Matmul<T>(a, b, out, m, n, p);
  }
  template <typename T>
  static void MatmulNaive(const T* a, const T* b, T* out, size_t m, size_t n, size_t p) {
    cpu::MatmulNaive<T>(a, b, out, m, n, p);
  }

  template <typename T>
  static void LstmGates(const T* pre, const T* c, T* h_out, T* c_out, size_t batch, size_t hidden) {
    cpu::LstmGates<T>(pre, c, h_out, c_out, batch, hidden);
  }
  template <typename T>
  static void LstmGatesBackward(const T* pre, const T* c, const T* dh, const T* dc, T* dpre, T* dc_out,
                                size_t batch, size_t hidden) {
    cpu::LstmGatesBackward<T>(pre, c, dh, dc, dpre, dc_out, batch, hidden);
  }

  // out[r, :] = a[rows[r], :].
  template <typename T>
  static void TakeRows(const Array& a, const std::vector<int64_t>& rows, Array* out, size_t cols) {
    const T* src = a.data<T>();
    T* dst = out->data<T>();
    const int64_t n = static_cast<int64_t>(rows.size());
#pragma omp parallel for schedule(static) if (n * int64_t(cols) > kParallelMin)
    for (int64_t r = 0; r < n; ++r) std::memcpy(dst + r * cols, src + rows[r] * cols, cols * sizeof(T));
  }
  // out[rows[r], :] += a[r, :], in order: repeated rows add up deterministically.
  template <typename T>
  static void IndexAddRows(const Array& a, const std::vector<int64_t>& rows, Array* out, size_t cols) {
    const T* src = a.data<T>();
    T* dst = out->data<T>();
    for (size_t r = 0; r < rows.size(); ++r) {
      T* row = dst + rows[r] * cols;
      const T* add = src + r * cols;
#pragma omp simd
      for (size_t j = 0; j < cols; ++j) row[j] += add[j];
    }
  }
};

}  // namespace cpu
}  // namespace needle

PYBIND11_MODULE(ndarray_backend_cpu, m) {
  namespace py = pybind11;
  using namespace needle::cpu;
  m.doc() = "needle's C++ CPU backend: the kernels behind ndl.cpu() (see src/ndarray_backend_cpu.cc)";
  m.attr("__device_name__") = "cpu";
  m.attr("__alignment__") = kAlignment;
#ifdef _OPENMP
  m.attr("__openmp__") = true;
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw py::value_error("set_num_threads: need at least 1 thread, got " + std::to_string(n));
    omp_set_num_threads(n);
  }, "Threads the kernels may use (OpenMP).");
  m.def("get_num_threads", []() { return omp_get_max_threads(); });
#else
  m.attr("__openmp__") = false;
  m.def("set_num_threads", [](int) {}, "No-op: built without OpenMP.");
  m.def("get_num_threads", []() { return 1; });
#endif
  m.attr("__vector_bytes__") = kVecBytes;
  m.attr("__tile_size__") = kTile;
  m.def("matmul_tiled", [](const AlignedArray& a, const AlignedArray& b, AlignedArray* out, int64_t m_in,
                           int64_t n_in, int64_t p_in) {
    const char* name = "matmul_tiled";
    const size_t rows = needle::CheckDim(name, "m", m_in), inner = needle::CheckDim(name, "n", n_in),
                 cols = needle::CheckDim(name, "p", p_in);
    if (rows % kTile || inner % kTile || cols % kTile)
      throw py::value_error("matmul_tiled: m, n and p must be multiples of the tile size " +
                            std::to_string(kTile) + ", got " + std::to_string(rows) + ", " +
                            std::to_string(inner) + " and " + std::to_string(cols));
    needle::CheckSameDtype(name, a, b);
    needle::CheckSameDtype(name, a, *out);
    needle::CheckSize(name, "a", a, needle::CheckedProduct(name, "m x n =", {rows, inner}));
    needle::CheckSize(name, "b", b, needle::CheckedProduct(name, "n x p =", {inner, cols}));
    needle::CheckSize(name, "out", *out, needle::CheckedProduct(name, "m x p =", {rows, cols}));
    needle::Dispatch(a, [&](auto t) {
      using T = decltype(t);
      MatmulTiled<T>(a.data<T>(), b.data<T>(), out->data<T>(), rows, inner, cols);
    });
  }, "CMU needle's tiled matmul: out (m/T, p/T, T, T) = a (m/T, n/T, T, T) @ b (n/T, p/T, T, T) "
     "tile by tile, T = __tile_size__; m, n, p multiples of T.",
     py::arg("a"), py::arg("b"), py::arg("out"), py::arg("m"), py::arg("n"), py::arg("p"));
  m.def("empty_cache", []() { large_buffers().Clear(std::free); },
        "Free the large buffers kept for reuse (up to 512 MiB).");
  needle::BindBackend<Backend>(m);
}
