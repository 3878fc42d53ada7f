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
#include <sstream>
#include <type_traits>
#include <utility>
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

// Calls body(i, j) for every element of the strided view (shape, strides, offset), in row-major
// order: i is the element's row-major number (its place in a compact array; q in the course
// notation), j its position in the strided buffer, offset + sum_k i_k * strides[k] for its index
// (i_0, ..., i_{r-1}) (j(q) = o + sum_k i_k s_k: docs/notation.md, "Arrays in memory").
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

// ---- im2col and col2im for the convolution fast path (given code) -----------------------------

// The patch matrix of ops_conv.im2col in one pass, instead of padding, taking a 6-d strided view
// and compacting it (conv's fast path uses the direct kernels below where it can; these are
// exported for im2col-based code and tested with it). a is a compact NHWC (n, h, w, c) image
// batch; cols is (n * h_out * w_out, kh * kw * c), row (b, i, j) holding the window whose corner
// is (i * stride - ph, j * stride - pw), zeros where the window leaves the image (a negative
// padding crops). col2im is its adjoint: every entry of cols added back to the pixel it came from.
struct ConvGeometry {
  size_t n, h, w, c, kh, kw, stride, h_out, w_out;
  int64_t ph, pw;
  size_t co;  // conv_direct's output channels
  size_t c_out() const { return co; }
};

template <typename T>
void Im2col(const T* a, T* cols, const ConvGeometry& g) {
  const size_t row = g.kh * g.kw * g.c;
  const int64_t rows = static_cast<int64_t>(g.n * g.h_out);
#pragma omp parallel for schedule(static) if (double(rows) * g.w_out * row > kParallelMin)
  for (int64_t bi = 0; bi < rows; ++bi) {
    const size_t b = bi / g.h_out, i = bi % g.h_out;
    T* dst = cols + size_t(bi) * g.w_out * row;
    const size_t span = g.kw * g.c;  // one kernel row of a window: kw pixels, contiguous in a
    for (size_t j = 0; j < g.w_out; ++j) {
      const int64_t s0 = int64_t(j * g.stride) - g.pw;
      const bool inside = s0 >= 0 && s0 + int64_t(g.kw) <= int64_t(g.w);
      for (size_t p = 0; p < g.kh; ++p, dst += span) {
        const int64_t r = int64_t(i * g.stride + p) - g.ph;
        if (r < 0 || r >= int64_t(g.h)) {
          std::fill(dst, dst + span, T(0));
          continue;
        }
        const T* src = a + (b * g.h + r) * g.w * g.c;
        if (inside) {
          std::memcpy(dst, src + s0 * g.c, span * sizeof(T));
          continue;
        }
        for (size_t q = 0; q < g.kw; ++q) {
          const int64_t s = s0 + int64_t(q);
          if (s < 0 || s >= int64_t(g.w)) std::fill(dst + q * g.c, dst + (q + 1) * g.c, T(0));
          else std::memcpy(dst + q * g.c, src + s * g.c, g.c * sizeof(T));
        }
      }
    }
  }
}

template <typename T>
void Col2im(const T* cols, T* a, const ConvGeometry& g) {
  const size_t row = g.kh * g.kw * g.c;
  std::fill(a, a + g.n * g.h * g.w * g.c, T(0));
  const int64_t n = static_cast<int64_t>(g.n);
  // One image per thread: the windows of one image overlap, those of two images do not.
#pragma omp parallel for schedule(static) if (double(g.n) * g.h_out * g.w_out * row > kParallelMin)
  for (int64_t b = 0; b < n; ++b) {
    const T* src = cols + size_t(b) * g.h_out * g.w_out * row;
    for (size_t i = 0; i < g.h_out; ++i) {
      for (size_t j = 0; j < g.w_out; ++j) {
        for (size_t p = 0; p < g.kh; ++p) {
          const int64_t r = int64_t(i * g.stride + p) - g.ph;
          for (size_t q = 0; q < g.kw; ++q, src += g.c) {
            const int64_t s = int64_t(j * g.stride + q) - g.pw;
            if (r < 0 || r >= int64_t(g.h) || s < 0 || s >= int64_t(g.w)) continue;
            T* dst = a + ((size_t(b) * g.h + r) * g.w + s) * g.c;
#pragma omp simd
            for (size_t k = 0; k < g.c; ++k) dst[k] += src[k];
          }
        }
      }
    }
  }
}

// A direct convolution for the fast path's forward and (stride 1) data gradient: out (n, h_out,
// w_out, c_out) = the padded NHWC images ap (n, hp, wp, c) correlated with the kernel b (kh, kw,
// c, c_out), without writing the patch matrix. Each task takes R = 8 neighbouring output pixels
// of one row and NR = 2 vectors of output channels, and keeps their R x NR sums in registers: per
// kernel entry (p, q, ch), one row of b (packed, zero-padded to NR) and R pixels of ap, read in
// place (a kernel row's kw x c entries are contiguous in ap).
template <typename T>
void ConvDirect(const T* ap, const T* b, T* out, const ConvGeometry& g) {
  using K = Tile<T>;
  using Vec = typename K::Vec;
  constexpr size_t R = 8;
  const size_t hp = g.h, wp = g.w, span = g.kw * g.c, depth = g.kh * span;
  const size_t panels = (g.c_out() + K::NR - 1) / K::NR;
  Buffer<T> bp(panels * depth * K::NR);
  for (size_t jp = 0; jp < panels; ++jp)
    for (size_t k = 0; k < depth; ++k)
      for (size_t j = 0; j < K::NR; ++j) {
        const size_t col = jp * K::NR + j;
        bp.data[(jp * depth + k) * K::NR + j] = col < g.c_out() ? b[k * g.c_out() + col] : T(0);
      }
  const size_t groups = (g.w_out + R - 1) / R;
  const int64_t tasks = static_cast<int64_t>(g.n * g.h_out * groups);
  auto block = [&](auto full, size_t n, size_t i, size_t j0, size_t rows) {
    for (size_t jp = 0; jp < panels; ++jp) {
      Vec acc[R][2];
      for (size_t r = 0; r < R; ++r) acc[r][0] = acc[r][1] = Vec{};
      const T* bk = bp.data + jp * depth * K::NR;
      for (size_t p = 0; p < g.kh; ++p) {
        const T* src = ap + ((n * hp + i * g.stride + p) * wp + j0 * g.stride) * g.c;
        const size_t step = g.stride * g.c;
        for (size_t t = 0; t < span; ++t, bk += K::NR) {
          Vec b0, b1;
          std::memcpy(&b0, bk, sizeof(Vec));
          std::memcpy(&b1, bk + K::W, sizeof(Vec));
#pragma GCC unroll 8
          for (size_t r = 0; r < R; ++r) {
            if (decltype(full)::value || r < rows) {
              const T x = src[r * step + t];
              acc[r][0] += x * b0;
              acc[r][1] += x * b1;
            }
          }
        }
      }
      const size_t c0 = jp * K::NR, cols = std::min(K::NR, g.c_out() - c0);
      for (size_t r = 0; r < rows; ++r) {
        T* dst = out + ((n * g.h_out + i) * g.w_out + j0 + r) * g.c_out() + c0;
        if (cols == K::NR) {
          std::memcpy(dst, &acc[r][0], sizeof(Vec));
          std::memcpy(dst + K::W, &acc[r][1], sizeof(Vec));
        } else {
          alignas(kAlignment) T tmp[K::NR];
          std::memcpy(tmp, &acc[r][0], sizeof(Vec));
          std::memcpy(tmp + K::W, &acc[r][1], sizeof(Vec));
          std::memcpy(dst, tmp, cols * sizeof(T));
        }
      }
    }
  };
#pragma omp parallel for schedule(static) if (double(g.n) * g.h_out * g.w_out * depth * g.c_out() > (1 << 21))
  for (int64_t task = 0; task < tasks; ++task) {
    const size_t grp = task % groups, ni = task / groups, n = ni / g.h_out, i = ni % g.h_out;
    const size_t j0 = grp * R, rows = std::min(R, g.w_out - j0);
    if (rows == R) block(std::true_type{}, n, i, j0, R);
    else block(std::false_type{}, n, i, j0, rows);
  }
}

// The fast path's weight gradient, also without the patch matrix: db (kh, kw, c, c_out) = the sum
// over output pixels m of window(m) (kh x kw x c entries of the padded images ap, read in place)
// times g[m, :] (the output's adjoint, (n * h_out * w_out, c_out)). Pixels go in chunks of 64
// (their rows of g packed to NR lanes); per chunk, each block of R = 8 kernel entries and NR
// output channels is summed in registers. Each thread sums its chunks into its own copy of db,
// added up at the end.
template <typename T>
void ConvDirectWeightGrad(const T* ap, const T* g, T* db, const ConvGeometry& geo) {
  using K = Tile<T>;
  using Vec = typename K::Vec;
  constexpr size_t R = 8, CH = 64;
  const size_t co = geo.c_out(), span = geo.kw * geo.c, depth = geo.kh * span;
  const size_t panels = (co + K::NR - 1) / K::NR, width = panels * K::NR;
  const size_t pixels = geo.n * geo.h_out * geo.w_out, chunks = (pixels + CH - 1) / CH;
  const bool parallel = double(pixels) * depth * co > (1 << 21) && max_threads() > 1;
  const size_t threads = parallel ? max_threads() : 1;
  std::vector<Buffer<T>> part;
  for (size_t t = 0; t < threads; ++t) {
    part.emplace_back(depth * width);
    std::fill(part[t].data, part[t].data + depth * width, T(0));
  }
#pragma omp parallel num_threads(threads) if (parallel)
  {
    T* acc_mem = part[thread_index()].data;
    alignas(kAlignment) T gp[CH * K::NR * 4];  // up to 4 panels (c_out <= 128) per pass
    size_t offs[CH];
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < static_cast<int64_t>(chunks); ++ch) {
      const size_t m0 = ch * CH, cm = std::min(CH, pixels - m0);
      for (size_t r = 0; r < cm; ++r) {
        const size_t m = m0 + r, j = m % geo.w_out, ni = m / geo.w_out;
        const size_t n = ni / geo.h_out, i = ni % geo.h_out;
        offs[r] = ((n * geo.h + i * geo.stride) * geo.w + j * geo.stride) * geo.c;
      }
      for (size_t jp0 = 0; jp0 < panels; jp0 += 4) {
        const size_t np = std::min<size_t>(4, panels - jp0);
        for (size_t r = 0; r < cm; ++r)
          for (size_t j = 0; j < np * K::NR; ++j) {
            const size_t col = jp0 * K::NR + j;
            gp[r * np * K::NR + j] = col < co ? g[(m0 + r) * co + col] : T(0);
          }
        for (size_t jp = 0; jp < np; ++jp) {
          for (size_t p = 0; p < geo.kh; ++p) {
            const size_t row_off = p * geo.w * geo.c;
            for (size_t t0 = 0; t0 < span; t0 += R) {
              const size_t rows = std::min(R, span - t0);
              Vec acc[R][2];
              for (size_t r = 0; r < R; ++r) acc[r][0] = acc[r][1] = Vec{};
              for (size_t mm = 0; mm < cm; ++mm) {
                Vec g0, g1;
                std::memcpy(&g0, gp + (mm * np + jp) * K::NR, sizeof(Vec));
                std::memcpy(&g1, gp + (mm * np + jp) * K::NR + K::W, sizeof(Vec));
                const T* src = ap + offs[mm] + row_off + t0;
                if (rows == R) {
#pragma GCC unroll 8
                  for (size_t r = 0; r < R; ++r) {
                    acc[r][0] += src[r] * g0;
                    acc[r][1] += src[r] * g1;
                  }
                } else {
                  for (size_t r = 0; r < rows; ++r) {
                    acc[r][0] += src[r] * g0;
                    acc[r][1] += src[r] * g1;
                  }
                }
              }
              for (size_t r = 0; r < rows; ++r) {
                T* dst = acc_mem + (p * span + t0 + r) * width + (jp0 + jp) * K::NR;
                for (size_t h = 0; h < 2; ++h) {
                  Vec prev;
                  std::memcpy(&prev, dst + h * K::W, sizeof(Vec));
                  prev += acc[r][h];
                  std::memcpy(dst + h * K::W, &prev, sizeof(Vec));
                }
              }
            }
          }
        }
      }
    }
  }
  for (size_t k = 0; k < depth; ++k)
    for (size_t j = 0; j < co; ++j) {
      T sum = T(0);
      for (size_t t = 0; t < threads; ++t) sum += part[t].data[k * width + j];
      db[k * co + j] = sum;
    }
}

// ---- fused softmax cross-entropy and linear (given code) ----------------------------------------

// The fast paths of nn.SoftmaxLoss and nn.Linear (python/needle/ops/ops_fused.py). The course's
// SoftmaxLoss makes some ten passes over the (n, k) logits (max, subtract, exp, sum, log, a
// one-hot product, ...); these kernels make one pass forward and one backward, as PyTorch's
// fused log_softmax + nll_loss. Rows are independent: OpenMP splits them, the columns of a row
// are one vectorised loop (exp_op is the Exp functor below: FastExp for float32).
//
// Forward, per row i of the logits z (n, k) (n = B examples, k classes) with label y[i]:
// m = max_j z_ij, lse_i = m + log sum_j exp(z_ij - m) (the max is subtracted so that exp cannot
// overflow), loss_i = lse_i - z_i,y[i] (docs/notation.md, "Losses": LSE(z) - z_y).
// lse is kept for the backward. A NaN logit makes its row's sum, and so its loss, NaN (and +inf
// gives inf - inf = NaN, as PyTorch); max's choice among NaNs does not matter.
template <typename T, typename ExpOp>
void SoftmaxXentForward(const T* z, const int64_t* y, T* loss, T* lse, size_t n, size_t k, ExpOp exp_op) {
  const int64_t rows = static_cast<int64_t>(n), cols = static_cast<int64_t>(k);
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin / 8 && rows > 1)
  for (int64_t i = 0; i < rows; ++i) {
    const T* row = z + i * cols;
    T m = row[0];
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < cols; ++j) m = row[j] > m ? row[j] : m;
    T s = T(0);
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < cols; ++j) s += exp_op(row[j] - m);
    lse[i] = m + std::log(s);
    loss[i] = lse[i] - row[y[i]];
  }
}

// Backward: dz_ij = (exp(z_ij - lse_i) - [j == y_i]) * scale, the softmax minus the one-hot
// labels times the loss's adjoint over n for the mean (scale = g / n, g read from the device):
// the notation's (softmax(Z) - I_y) / B, times the adjoint g of the mean loss.
template <typename T, typename ExpOp>
void SoftmaxXentBackward(const T* z, const int64_t* y, const T* lse, T scale, T* dz, size_t n, size_t k,
                         ExpOp exp_op) {
  const int64_t rows = static_cast<int64_t>(n), cols = static_cast<int64_t>(k);
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin / 8 && rows > 1)
  for (int64_t i = 0; i < rows; ++i) {
    const T* row = z + i * cols;
    T* drow = dz + i * cols;
    const T l = lse[i];
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) drow[j] = exp_op(row[j] - l) * scale;
    drow[y[i]] -= scale;
  }
}

// nn.Linear's bias, added in place to the product X W, (n, k) here (n = B rows): out[i, :] += b,
// one pass instead of a broadcast copy of b and an element-wise add. (The bias's gradient, a
// column sum, is reduce_sum's over axis 0, which already streams over rows in place.)
template <typename T>
void AddRowBias(T* out, const T* b, size_t n, size_t k) {
  const int64_t rows = static_cast<int64_t>(n), cols = static_cast<int64_t>(k);
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin && rows > 1)
  for (int64_t i = 0; i < rows; ++i) {
    T* row = out + i * cols;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) row[j] += b[j];
  }
}

// The labels of softmax_xent_*, stored as floats (n,), as int64: a ValueError names the first
// that is not a whole number in 0..k-1, and its row.
template <typename T>
std::vector<int64_t> XentLabels(const char* name, const T* labels, size_t n, size_t k) {
  std::vector<int64_t> y(n);
  for (size_t i = 0; i < n; ++i) {
    const T v = labels[i];
    if (!(v >= T(0) && v < T(k)) || v != std::floor(v)) {
      std::ostringstream msg;
      msg.precision(17);
      msg << name << ": label " << v << " at row " << i << " is not an integer in 0.." << k - 1;
      throw py::value_error(msg.str());
    }
    y[i] = static_cast<int64_t>(v);
  }
  return y;
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
  // x != x: x is NaN. Two selects, not one of an `||`, so that GCC vectorises the reductions'
  // four-rows-a-pass loop under -fno-trapping-math (one select of an `||` it would not: 10x slower).
  template <typename T> T operator()(T x, T y) const { const T larger = x > y ? x : y; return x != x ? x : larger; }
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


// ---- fused batch normalisation and ReLU (given code) ------------------------------------------
//
// BatchNorm1d's and BatchNorm2d's fast path (python/needle/ops/ops_norm.py): a few passes over
// memory instead of the course's ~15 ops and their gradients. x is a compact array viewed as
// (outer, c, inner), the channel axis in the middle, so that NCHW images are (N, C, H*W) and an
// (N, C) matrix is (N, C, 1), without a transpose. Each channel's statistics run over its
// m = outer * inner values, summed in double (for float32 too) in two passes: the mean, then the
// squares about it (Chan, Golub & LeVeque, "Algorithms for computing the sample variance",
// 1983). Two ways through the data, by its shape:
// * by channels, for long runs (large images): each thread takes whole channels, made of outer
//   contiguous runs of inner values, and finishes each channel while it is in cache;
// * by rows, for short runs ((N, C) matrices, small images): rows of c * inner values, each
//   thread summing its rows into its own row of totals, folded into channels at the end in a
//   fixed order; the per-channel constants are repeated inner times for the vector loops.

// Whether the kernels below go by rows: short runs, or a row of totals that fits in L1/L2.
inline bool NormByRows(size_t c, size_t inner) { return inner < 32 || c * inner <= 8192; }

// Per-channel totals by rows of L = c * inner values: add_row(o, acc) adds row o's K terms per
// value to acc (K * L doubles, term k of value j at acc[k * L + j]); sums (K * c) gets each
// channel's totals.
template <size_t K, typename F>
void SumRows(size_t outer, size_t c, size_t inner, F add_row, double* sums) {
  const size_t width = K * c * inner;
  const int threads = double(outer) * c * inner > kParallelMin ? max_threads() : 1;
  std::vector<double> part(size_t(threads) * width, 0.0);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    double* acc = part.data() + size_t(thread_index()) * width;
#pragma omp for schedule(static)
    for (int64_t o = 0; o < int64_t(outer); ++o) add_row(size_t(o), acc);
  }
  for (size_t k = 0; k < K * c; ++k) {  // k = term * c + channel
    double total = 0;
    for (int t = 0; t < threads; ++t) {
      const double* run = part.data() + size_t(t) * width + k * inner;
      for (size_t i = 0; i < inner; ++i) total += run[i];
    }
    sums[k] = total;
  }
}

// Each of the c values of v repeated inner times, as T.
template <typename T, typename U>
std::vector<T> RepeatEach(const U* v, size_t c, size_t inner) {
  std::vector<T> out(c * inner);
  for (size_t ch = 0; ch < c; ++ch) std::fill(out.begin() + ch * inner, out.begin() + (ch + 1) * inner, T(v[ch]));
  return out;
}

// y = (x - mu[ch]) * scale[ch] + shift[ch] over (outer, c, inner), by rows or by runs.
template <typename T>
void NormalizeChannels(const T* x, const T* mu, const T* scale, const T* shift, T* y, size_t outer,
                       size_t c, size_t inner) {
  const bool parallel = double(outer) * c * inner > kParallelMin;
  if (NormByRows(c, inner)) {
    const size_t width = c * inner;
    const std::vector<T> m = RepeatEach<T>(mu, c, inner), s = RepeatEach<T>(scale, c, inner),
                         t = RepeatEach<T>(shift, c, inner);
    const T *mp = m.data(), *sp = s.data(), *tp = t.data();
#pragma omp parallel for schedule(static) if (parallel && outer > 1)
    for (int64_t o = 0; o < int64_t(outer); ++o) {
      const T* src = x + size_t(o) * width;
      T* dst = y + size_t(o) * width;
#pragma omp simd
      for (size_t j = 0; j < width; ++j) dst[j] = (src[j] - mp[j]) * sp[j] + tp[j];
    }
    return;
  }
  const int64_t runs = int64_t(outer * c);  // contiguous runs of inner values, one channel each
#pragma omp parallel for schedule(static) if (parallel && runs > 1)
  for (int64_t r = 0; r < runs; ++r) {
    const T* src = x + size_t(r) * inner;
    T* dst = y + size_t(r) * inner;
    const size_t ch = size_t(r) % c;
    const T m = mu[ch], s = scale[ch], t = shift[ch];
#pragma omp simd
    for (size_t i = 0; i < inner; ++i) dst[i] = (src[i] - m) * s + t;
  }
}

// Training forward: each channel's mean and biased variance var, invstd = 1 / sqrt(var + eps),
// and y = (x - mean) * (w * invstd) + b; mean, var and invstd (c values each) are written out
// for the running statistics and the backward pass.
template <typename T>
void BatchNormTrain(const T* x, const T* w, const T* b, T* y, T* mean, T* var, T* invstd,
                    size_t outer, size_t c, size_t inner, double eps) {
  const double m = double(outer) * double(inner);
  if (!NormByRows(c, inner)) {
#pragma omp parallel for schedule(static) if (m * c > kParallelMin && c > 1)
    for (int64_t ch = 0; ch < int64_t(c); ++ch) {
      double s = 0, q = 0;
      for (size_t o = 0; o < outer; ++o) {
        const T* run = x + (o * c + ch) * inner;
#pragma omp simd reduction(+ : s)
        for (size_t i = 0; i < inner; ++i) s += run[i];
      }
      const double mu = s / m;
      for (size_t o = 0; o < outer; ++o) {
        const T* run = x + (o * c + ch) * inner;
#pragma omp simd reduction(+ : q)
        for (size_t i = 0; i < inner; ++i) {
          const double d = double(run[i]) - mu;
          q += d * d;
        }
      }
      const double v = q / m, inv = 1.0 / std::sqrt(v + eps);
      mean[ch] = T(mu), var[ch] = T(v), invstd[ch] = T(inv);
      const T mu_t = T(mu), scale = T(double(w[ch]) * inv), shift = b[ch];
      for (size_t o = 0; o < outer; ++o) {
        const T* run = x + (o * c + ch) * inner;
        T* dst = y + (o * c + ch) * inner;
#pragma omp simd
        for (size_t i = 0; i < inner; ++i) dst[i] = (run[i] - mu_t) * scale + shift;
      }
    }
    return;
  }
  const size_t width = c * inner;
  std::vector<double> sums(c), mu(c);
  SumRows<1>(outer, c, inner, [&](size_t o, double* acc) {
    const T* row = x + o * width;
#pragma omp simd
    for (size_t j = 0; j < width; ++j) acc[j] += row[j];
  }, sums.data());
  for (size_t ch = 0; ch < c; ++ch) mu[ch] = sums[ch] / m;
  const std::vector<double> mu_rep = RepeatEach<double>(mu.data(), c, inner);
  SumRows<1>(outer, c, inner, [&](size_t o, double* acc) {
    const T* row = x + o * width;
    const double* mp = mu_rep.data();
#pragma omp simd
    for (size_t j = 0; j < width; ++j) {
      const double d = double(row[j]) - mp[j];
      acc[j] += d * d;
    }
  }, sums.data());
  std::vector<T> scale(c);
  for (size_t ch = 0; ch < c; ++ch) {
    const double v = sums[ch] / m, inv = 1.0 / std::sqrt(v + eps);
    mean[ch] = T(mu[ch]), var[ch] = T(v), invstd[ch] = T(inv);
    scale[ch] = T(double(w[ch]) * inv);
  }
  NormalizeChannels(x, mean, scale.data(), b, y, outer, c, inner);
}

// Evaluation forward with given statistics (the running ones): invstd = 1 / sqrt(var + eps) is
// written out, and y = (x - mean) * (w * invstd) + b.
template <typename T>
void BatchNormEval(const T* x, const T* w, const T* b, const T* mean, const T* var, T* y, T* invstd,
                   size_t outer, size_t c, size_t inner, double eps) {
  std::vector<T> scale(c);
  for (size_t ch = 0; ch < c; ++ch) {
    const double inv = 1.0 / std::sqrt(double(var[ch]) + eps);
    invstd[ch] = T(inv);
    scale[ch] = T(double(w[ch]) * inv);
  }
  NormalizeChannels(x, mean, scale.data(), b, y, outer, c, inner);
}

// Backward, for the output's adjoint g and xhat = (x - mean) * invstd: dw = sum(g * xhat) and
// db = sum(g) per channel (first pass), then (second pass) with the batch's own statistics
// dx = w * invstd * (g - db / m - xhat * dw / m) (Ioffe & Szegedy, ICML 2015, section 3), or with
// fixed ones (evaluation) dx = w * invstd * g.
template <typename T>
void BatchNormBackward(const T* x, const T* g, const T* w, const T* mean, const T* invstd, T* dx,
                       T* dw, T* db, size_t outer, size_t c, size_t inner, bool batch_stats) {
  const double m = double(outer) * double(inner);
  // dx = g * k[0] + (x - mean) * k[1] + k[2] in channel ch, whose sums are sg and sgx.
  auto coefficients = [&](size_t ch, double sg, double sgx, T* k) {
    const double inv = invstd[ch], dwv = sgx * inv, scale = double(w[ch]) * inv;
    dw[ch] = T(dwv), db[ch] = T(sg);
    k[0] = T(scale);
    k[1] = batch_stats && m > 0 ? T(-scale * inv * dwv / m) : T(0);
    k[2] = batch_stats && m > 0 ? T(-scale * sg / m) : T(0);
  };
  if (!NormByRows(c, inner)) {
#pragma omp parallel for schedule(static) if (m * c > kParallelMin && c > 1)
    for (int64_t ch = 0; ch < int64_t(c); ++ch) {
      const T mu = mean[ch];
      double sg = 0, sgx = 0;
      for (size_t o = 0; o < outer; ++o) {
        const T *xr = x + (o * c + ch) * inner, *gr = g + (o * c + ch) * inner;
#pragma omp simd reduction(+ : sg, sgx)
        for (size_t i = 0; i < inner; ++i) {
          sg += gr[i];
          sgx += double(gr[i]) * double(xr[i] - mu);
        }
      }
      T k[3];
      coefficients(size_t(ch), sg, sgx, k);
      for (size_t o = 0; o < outer; ++o) {
        const T *xr = x + (o * c + ch) * inner, *gr = g + (o * c + ch) * inner;
        T* dst = dx + (o * c + ch) * inner;
#pragma omp simd
        for (size_t i = 0; i < inner; ++i) dst[i] = gr[i] * k[0] + (xr[i] - mu) * k[1] + k[2];
      }
    }
    return;
  }
  const size_t width = c * inner;
  const std::vector<T> mu_rep = RepeatEach<T>(mean, c, inner);
  const T* mp = mu_rep.data();
  std::vector<double> sums(2 * c);
  SumRows<2>(outer, c, inner, [&](size_t o, double* acc) {
    const T *xr = x + o * width, *gr = g + o * width;
#pragma omp simd
    for (size_t j = 0; j < width; ++j) {
      acc[j] += gr[j];
      acc[width + j] += double(gr[j]) * double(xr[j] - mp[j]);
    }
  }, sums.data());
  std::vector<T> k1(c), k2(c), k0(c);
  for (size_t ch = 0; ch < c; ++ch) {
    T k[3];
    coefficients(ch, sums[ch], sums[c + ch], k);
    k1[ch] = k[0], k2[ch] = k[1], k0[ch] = k[2];
  }
  const std::vector<T> r1 = RepeatEach<T>(k1.data(), c, inner), r2 = RepeatEach<T>(k2.data(), c, inner),
                       r0 = RepeatEach<T>(k0.data(), c, inner);
  const T *p1 = r1.data(), *p2 = r2.data(), *p0 = r0.data();
#pragma omp parallel for schedule(static) if (double(outer) * width > kParallelMin && outer > 1)
  for (int64_t o = 0; o < int64_t(outer); ++o) {
    const T *xr = x + size_t(o) * width, *gr = g + size_t(o) * width;
    T* dst = dx + size_t(o) * width;
#pragma omp simd
    for (size_t j = 0; j < width; ++j) dst[j] = gr[j] * p1[j] + (xr[j] - mp[j]) * p2[j] + p0[j];
  }
}

// ReLU's backward in one pass: out = g where x > 0, else 0 (also where x is NaN, and whatever g
// is there, as PyTorch's threshold_backward).
template <typename T>
void ReluBackward(const T* x, const T* g, T* out, size_t n) {
  const ptrdiff_t size = static_cast<ptrdiff_t>(n);
#pragma omp parallel for simd schedule(static) if (size > kParallelMin)
  for (ptrdiff_t i = 0; i < size; ++i) out[i] = x[i] > T(0) ? g[i] : T(0);
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
  auto conv_geometry = [](const char* name, const AlignedArray& image, const AlignedArray& cols,
                          const std::vector<int64_t>& dims) {
    // dims: n, h, w, c, kh, kw, stride, ph, pw; h_out and w_out follow from them.
    ConvGeometry g{};
    size_t* sizes[] = {&g.n, &g.h, &g.w, &g.c, &g.kh, &g.kw, &g.stride};
    const char* names[] = {"n", "h", "w", "c", "kh", "kw", "stride"};
    if (dims.size() != 9) throw py::value_error(std::string(name) + ": expected 9 sizes, got " + std::to_string(dims.size()));
    for (size_t i = 0; i < 7; ++i) *sizes[i] = needle::CheckDim(name, names[i], dims[i]);
    g.ph = dims[7];
    g.pw = dims[8];
    const int64_t hp = int64_t(g.h) + 2 * g.ph, wp = int64_t(g.w) + 2 * g.pw;
    if (g.stride == 0 || g.kh == 0 || g.kw == 0 || hp < int64_t(g.kh) || wp < int64_t(g.kw))
      throw py::value_error(std::string(name) + ": the kernel does not fit the padded image");
    g.h_out = size_t(hp - int64_t(g.kh)) / g.stride + 1;
    g.w_out = size_t(wp - int64_t(g.kw)) / g.stride + 1;
    needle::CheckSameDtype(name, image, cols);
    needle::CheckSize(name, "image", image, needle::CheckedProduct(name, "n x h x w x c =", {g.n, g.h, g.w, g.c}));
    needle::CheckSize(name, "cols", cols, needle::CheckedProduct(name, "rows x kh x kw x c =",
                                                                 {g.n, g.h_out, g.w_out, g.kh, g.kw, g.c}));
    return g;
  };
  m.def("im2col", [conv_geometry](const AlignedArray& a, AlignedArray* cols, const std::vector<int64_t>& dims) {
    const ConvGeometry g = conv_geometry("im2col", a, *cols, dims);
    needle::Dispatch(a, [&](auto t) {
      using T = decltype(t);
      Im2col<T>(a.data<T>(), cols->data<T>(), g);
    });
  }, "The convolution fast path's patch matrix: cols (n*h_out*w_out, kh*kw*c) from the compact NHWC "
     "images a, dims = (n, h, w, c, kh, kw, stride, ph, pw).",
     py::arg("a"), py::arg("cols"), py::arg("dims"));
  m.def("col2im", [conv_geometry](const AlignedArray& cols, AlignedArray* a, const std::vector<int64_t>& dims) {
    const ConvGeometry g = conv_geometry("col2im", *a, cols, dims);
    needle::Dispatch(cols, [&](auto t) {
      using T = decltype(t);
      Col2im<T>(cols.data<T>(), a->data<T>(), g);
    });
  }, "im2col's adjoint: the NHWC images a (n, h, w, c) = each entry of cols added to the pixel it "
     "came from, dims as im2col's.",
     py::arg("cols"), py::arg("a"), py::arg("dims"));
  m.def("conv_direct", [](const AlignedArray& a, const AlignedArray& b, AlignedArray* out,
                          const std::vector<int64_t>& dims) {
    // dims: n, hp, wp, c, kh, kw, stride, c_out (a already padded).
    const char* name = "conv_direct";
    if (dims.size() != 8) throw py::value_error("conv_direct: expected 8 sizes, got " + std::to_string(dims.size()));
    ConvGeometry g{};
    size_t* sizes[] = {&g.n, &g.h, &g.w, &g.c, &g.kh, &g.kw, &g.stride, &g.co};
    const char* names[] = {"n", "hp", "wp", "c", "kh", "kw", "stride", "c_out"};
    for (size_t i = 0; i < 8; ++i) *sizes[i] = needle::CheckDim(name, names[i], dims[i]);
    if (g.stride == 0 || g.kh == 0 || g.kw == 0 || g.h < g.kh || g.w < g.kw)
      throw py::value_error("conv_direct: the kernel does not fit the padded image");
    g.h_out = (g.h - g.kh) / g.stride + 1;
    g.w_out = (g.w - g.kw) / g.stride + 1;
    needle::CheckSameDtype(name, a, b);
    needle::CheckSameDtype(name, a, *out);
    needle::CheckSize(name, "a", a, needle::CheckedProduct(name, "n x hp x wp x c =", {g.n, g.h, g.w, g.c}));
    needle::CheckSize(name, "b", b, needle::CheckedProduct(name, "kh x kw x c x c_out =", {g.kh, g.kw, g.c, g.co}));
    needle::CheckSize(name, "out", *out, needle::CheckedProduct(name, "n x h_out x w_out x c_out =",
                                                               {g.n, g.h_out, g.w_out, g.co}));
    needle::Dispatch(a, [&](auto t) {
      using T = decltype(t);
      ConvDirect<T>(a.data<T>(), b.data<T>(), out->data<T>(), g);
    });
  }, "The convolution fast path's direct kernel: out (n, h_out, w_out, c_out) = the padded compact "
     "NHWC images a (n, hp, wp, c) correlated with b (kh, kw, c, c_out), dims = (n, hp, wp, c, kh, "
     "kw, stride, c_out).",
     py::arg("a"), py::arg("b"), py::arg("out"), py::arg("dims"));
  m.def("conv_direct_weight_grad", [](const AlignedArray& a, const AlignedArray& g, AlignedArray* db,
                                      const std::vector<int64_t>& dims) {
    // dims: n, hp, wp, c, kh, kw, stride, c_out (a already padded), as conv_direct's.
    const char* name = "conv_direct_weight_grad";
    if (dims.size() != 8) throw py::value_error(std::string(name) + ": expected 8 sizes, got " + std::to_string(dims.size()));
    ConvGeometry geo{};
    size_t* sizes[] = {&geo.n, &geo.h, &geo.w, &geo.c, &geo.kh, &geo.kw, &geo.stride, &geo.co};
    const char* names[] = {"n", "hp", "wp", "c", "kh", "kw", "stride", "c_out"};
    for (size_t i = 0; i < 8; ++i) *sizes[i] = needle::CheckDim(name, names[i], dims[i]);
    if (geo.stride == 0 || geo.kh == 0 || geo.kw == 0 || geo.h < geo.kh || geo.w < geo.kw)
      throw py::value_error(std::string(name) + ": the kernel does not fit the padded image");
    geo.h_out = (geo.h - geo.kh) / geo.stride + 1;
    geo.w_out = (geo.w - geo.kw) / geo.stride + 1;
    needle::CheckSameDtype(name, a, g);
    needle::CheckSameDtype(name, a, *db);
    needle::CheckSize(name, "a", a, needle::CheckedProduct(name, "n x hp x wp x c =", {geo.n, geo.h, geo.w, geo.c}));
    needle::CheckSize(name, "g", g, needle::CheckedProduct(name, "n x h_out x w_out x c_out =",
                                                           {geo.n, geo.h_out, geo.w_out, geo.co}));
    needle::CheckSize(name, "db", *db, needle::CheckedProduct(name, "kh x kw x c x c_out =", {geo.kh, geo.kw, geo.c, geo.co}));
    needle::Dispatch(a, [&](auto t) {
      using T = decltype(t);
      ConvDirectWeightGrad<T>(a.data<T>(), g.data<T>(), db->data<T>(), geo);
    });
  }, "The convolution fast path's weight gradient: db (kh, kw, c, c_out) from the padded compact NHWC "
     "images a and the output's adjoint g (n, h_out, w_out, c_out), dims as conv_direct's.",
     py::arg("a"), py::arg("g"), py::arg("db"), py::arg("dims"));
  m.def("empty_cache", []() { large_buffers().Clear(std::free); },
        "Free the large buffers kept for reuse (up to 512 MiB).");
  // ---- fused softmax cross-entropy and linear (given code) ----
  auto xent_sizes = [](const char* name, const AlignedArray& logits, const AlignedArray& labels, int64_t n_in,
                       int64_t k_in) {
    const size_t n = needle::CheckDim(name, "n", n_in), k = needle::CheckDim(name, "k", k_in);
    if (k == 0) throw py::value_error(std::string(name) + ": k must be positive, got 0 classes");
    needle::CheckSameDtype(name, logits, labels);
    needle::CheckSize(name, "logits", logits, needle::CheckedProduct(name, "n x k =", {n, k}));
    needle::CheckSize(name, "labels", labels, n);
    return std::make_pair(n, k);
  };
  m.def("softmax_xent_forward", [xent_sizes](const AlignedArray& logits, const AlignedArray& labels,
                                             AlignedArray* loss, AlignedArray* lse, int64_t n_in, int64_t k_in) {
    const char* name = "softmax_xent_forward";
    const auto [n, k] = xent_sizes(name, logits, labels, n_in, k_in);
    needle::CheckSameDtype(name, logits, *loss);
    needle::CheckSameDtype(name, logits, *lse);
    needle::CheckSize(name, "loss", *loss, n);
    needle::CheckSize(name, "lse", *lse, n);
    needle::Dispatch(logits, [&](auto t) {
      using T = decltype(t);
      const std::vector<int64_t> y = XentLabels<T>(name, labels.data<T>(), n, k);
      SoftmaxXentForward<T>(logits.data<T>(), y.data(), loss->data<T>(), lse->data<T>(), n, k, Exp{});
    });
  }, "nn.SoftmaxLoss's fast path: per-row cross-entropy loss (n,) = logsumexp(logits[i]) - "
     "logits[i, labels[i]] of compact logits (n, k) and whole-number labels (n,) in 0..k-1 (same "
     "dtype), and each row's logsumexp into lse (n,) for softmax_xent_backward.",
     py::arg("logits"), py::arg("labels"), py::arg("loss"), py::arg("lse"), py::arg("n"), py::arg("k"));
  m.def("softmax_xent_backward", [xent_sizes](const AlignedArray& logits, const AlignedArray& labels,
                                              const AlignedArray& lse, const AlignedArray& g, double scale,
                                              AlignedArray* dlogits, int64_t n_in, int64_t k_in) {
    const char* name = "softmax_xent_backward";
    const auto [n, k] = xent_sizes(name, logits, labels, n_in, k_in);
    needle::CheckSameDtype(name, logits, lse);
    needle::CheckSameDtype(name, logits, g);
    needle::CheckSameDtype(name, logits, *dlogits);
    needle::CheckSize(name, "lse", lse, n);
    needle::CheckSize(name, "g", g, 1);
    needle::CheckSize(name, "dlogits", *dlogits, n * k);
    needle::Dispatch(logits, [&](auto t) {
      using T = decltype(t);
      const std::vector<int64_t> y = XentLabels<T>(name, labels.data<T>(), n, k);
      SoftmaxXentBackward<T>(logits.data<T>(), y.data(), lse.data<T>(), T(g.data<T>()[0] * scale), dlogits->data<T>(), n,
                             k, Exp{});
    });
  }, "softmax_xent_forward's adjoint: dlogits (n, k) = (exp(logits - lse[:, None]) - one_hot(labels)) "
     "* g[0] * scale, g the loss's adjoint (one element, on the device) and scale 1/n for a mean.",
     py::arg("logits"), py::arg("labels"), py::arg("lse"), py::arg("g"), py::arg("scale"), py::arg("dlogits"),
     py::arg("n"), py::arg("k"));
  m.def("add_row_bias", [](AlignedArray* out, const AlignedArray& b, int64_t n_in, int64_t k_in) {
    const char* name = "add_row_bias";
    const size_t n = needle::CheckDim(name, "n", n_in), k = needle::CheckDim(name, "k", k_in);
    needle::CheckSameDtype(name, *out, b);
    needle::CheckSize(name, "out", *out, needle::CheckedProduct(name, "n x k =", {n, k}));
    needle::CheckSize(name, "b", b, k);
    needle::Dispatch(b, [&](auto t) {
      using T = decltype(t);
      AddRowBias<T>(out->data<T>(), b.data<T>(), n, k);
    });
  }, "nn.Linear's fast path: out[i, :] += b in place for compact out (n, k) and b (k,).",
     py::arg("out"), py::arg("b"), py::arg("n"), py::arg("k"));
  // ---- fused batch normalisation and ReLU (given code) ----
  // (outer, channels, inner) of a compact x, checked: sizes of x-shaped and per-channel arrays,
  // one dtype for all of them, a finite eps >= 0.
  struct NormShape { size_t outer, c, inner, n; };
  auto norm_shape = [](const char* name, int64_t outer, int64_t channels, int64_t inner,
                       std::initializer_list<std::pair<const char*, const AlignedArray*>> full,
                       std::initializer_list<std::pair<const char*, const AlignedArray*>> per_channel) {
    NormShape s{needle::CheckDim(name, "outer", outer), needle::CheckDim(name, "channels", channels),
                needle::CheckDim(name, "inner", inner), 0};
    s.n = needle::CheckedProduct(name, "outer x channels x inner =", {s.outer, s.c, s.inner});
    const AlignedArray* first = full.begin()->second;
    for (const auto& [what, a] : full) {
      needle::CheckSameDtype(name, *first, *a);
      needle::CheckSize(name, what, *a, s.n);
    }
    for (const auto& [what, a] : per_channel) {
      needle::CheckSameDtype(name, *first, *a);
      needle::CheckSize(name, what, *a, s.c);
    }
    return s;
  };
  auto check_eps = [](const char* name, double eps) {
    if (!(eps >= 0) || !std::isfinite(eps))
      throw py::value_error(std::string(name) + ": eps must be finite and >= 0, got " + std::to_string(eps));
  };
  m.def("batch_norm_train", [norm_shape, check_eps](const AlignedArray& x, const AlignedArray& weight,
                                                    const AlignedArray& bias, AlignedArray* out, AlignedArray* mean,
                                                    AlignedArray* var, AlignedArray* invstd, int64_t outer,
                                                    int64_t channels, int64_t inner, double eps) {
    const char* name = "batch_norm_train";
    const NormShape s = norm_shape(name, outer, channels, inner, {{"x", &x}, {"out", out}},
                                   {{"weight", &weight}, {"bias", &bias}, {"mean", mean}, {"var", var},
                                    {"invstd", invstd}});
    check_eps(name, eps);
    if (s.c > 0 && s.outer * s.inner == 0)
      throw py::value_error(std::string(name) + ": no values to take statistics of: outer " +
                            std::to_string(s.outer) + " x inner " + std::to_string(s.inner) + " is 0");
    needle::Dispatch(x, [&](auto t) {
      using T = decltype(t);
      BatchNormTrain<T>(x.data<T>(), weight.data<T>(), bias.data<T>(), out->data<T>(), mean->data<T>(),
                        var->data<T>(), invstd->data<T>(), s.outer, s.c, s.inner, eps);
    });
  }, "Batch normalisation's training forward over the channel axis of the compact x (outer, channels, "
     "inner): out = (x - mean) * weight / sqrt(var + eps) + bias with each channel's mean and biased "
     "variance over outer and inner, which are written to mean and var, and 1 / sqrt(var + eps) to invstd.",
     py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("out"), py::arg("mean"), py::arg("var"),
     py::arg("invstd"), py::arg("outer"), py::arg("channels"), py::arg("inner"), py::arg("eps"));
  m.def("batch_norm_eval", [norm_shape, check_eps](const AlignedArray& x, const AlignedArray& weight,
                                                   const AlignedArray& bias, const AlignedArray& mean,
                                                   const AlignedArray& var, AlignedArray* out, AlignedArray* invstd,
                                                   int64_t outer, int64_t channels, int64_t inner, double eps) {
    const char* name = "batch_norm_eval";
    const NormShape s = norm_shape(name, outer, channels, inner, {{"x", &x}, {"out", out}},
                                   {{"weight", &weight}, {"bias", &bias}, {"mean", &mean}, {"var", &var},
                                    {"invstd", invstd}});
    check_eps(name, eps);
    needle::Dispatch(x, [&](auto t) {
      using T = decltype(t);
      BatchNormEval<T>(x.data<T>(), weight.data<T>(), bias.data<T>(), mean.data<T>(), var.data<T>(),
                       out->data<T>(), invstd->data<T>(), s.outer, s.c, s.inner, eps);
    });
  }, "Batch normalisation with given statistics (evaluation): out = (x - mean) * weight / sqrt(var + eps) "
     "+ bias over the channel axis of the compact x (outer, channels, inner); 1 / sqrt(var + eps) is "
     "written to invstd.",
     py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("mean"), py::arg("var"), py::arg("out"),
     py::arg("invstd"), py::arg("outer"), py::arg("channels"), py::arg("inner"), py::arg("eps"));
  m.def("batch_norm_backward", [norm_shape](const AlignedArray& x, const AlignedArray& g, const AlignedArray& weight,
                                            const AlignedArray& mean, const AlignedArray& invstd, AlignedArray* dx,
                                            AlignedArray* dweight, AlignedArray* dbias, int64_t outer,
                                            int64_t channels, int64_t inner, bool batch_stats) {
    const char* name = "batch_norm_backward";
    const NormShape s = norm_shape(name, outer, channels, inner, {{"x", &x}, {"g", &g}, {"dx", dx}},
                                   {{"weight", &weight}, {"mean", &mean}, {"invstd", &invstd},
                                    {"dweight", dweight}, {"dbias", dbias}});
    needle::Dispatch(x, [&](auto t) {
      using T = decltype(t);
      BatchNormBackward<T>(x.data<T>(), g.data<T>(), weight.data<T>(), mean.data<T>(), invstd.data<T>(),
                           dx->data<T>(), dweight->data<T>(), dbias->data<T>(), s.outer, s.c, s.inner,
                           batch_stats);
    });
  }, "Batch normalisation's backward for the output's adjoint g: dweight = sum(g * xhat), dbias = sum(g) "
     "per channel, with xhat = (x - mean) * invstd, and dx = weight * invstd * (g - mean(g) - xhat * "
     "mean(g * xhat)) for the batch's own statistics (batch_stats) or weight * invstd * g for fixed ones.",
     py::arg("x"), py::arg("g"), py::arg("weight"), py::arg("mean"), py::arg("invstd"), py::arg("dx"),
     py::arg("dweight"), py::arg("dbias"), py::arg("outer"), py::arg("channels"), py::arg("inner"),
     py::arg("batch_stats"));
  m.def("relu_backward", [](const AlignedArray& x, const AlignedArray& g, AlignedArray* out, int64_t size) {
    const char* name = "relu_backward";
    const size_t n = needle::CheckDim(name, "size", size);
    needle::CheckSameDtype(name, x, g);
    needle::CheckSameDtype(name, x, *out);
    needle::CheckSize(name, "x", x, n);
    needle::CheckSize(name, "g", g, n);
    needle::CheckSize(name, "out", *out, n);
    needle::Dispatch(x, [&](auto t) {
      using T = decltype(t);
      ReluBackward<T>(x.data<T>(), g.data<T>(), out->data<T>(), n);
    });
  }, "ReLU's backward in one pass: out = g where x > 0, else 0, for the first size elements.",
     py::arg("x"), py::arg("g"), py::arg("out"), py::arg("size"));
  needle::BindBackend<Backend>(m);
}
