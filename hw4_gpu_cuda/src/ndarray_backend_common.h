// What needle's compiled backends share (given code): the element types, and the checks their
// bindings make before any kernel runs, so that a bad call raises a Python exception naming the
// problem instead of reading or writing outside a buffer. Used by the CPU backend (hw3) and
// the CUDA backend (hw4); `Array` is each backend's buffer type, with `size` (elements),
// `dtype` (a DType) and `dtype_name()`.
//
// Sizes are products and sums of numbers a caller chose, so every one is computed with a
// checked operation (__builtin_mul_overflow, __builtin_add_overflow): a product that does not
// fit raises, naming its factors, instead of wrapping to a small number that a kernel would
// then trust. Once these checks pass, every element and byte index a kernel forms lies in
// [0, PTRDIFF_MAX], so kernels may index with size_t or int64_t freely.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

namespace needle {

enum class DType { kFloat32, kFloat64 };

using Shape = std::vector<int64_t>;

// The DType called `name`, and its size in bytes; a ValueError for any other name.
inline DType ParseDType(const std::string& name, size_t* elem_size) {
  if (name == "float32") {
    *elem_size = sizeof(float);
    return DType::kFloat32;
  }
  if (name == "float64") {
    *elem_size = sizeof(double);
    return DType::kFloat64;
  }
  throw pybind11::value_error("Array: dtype " + name + " is not supported; expected float32 or float64");
}

inline std::string DTypeName(DType dtype) { return dtype == DType::kFloat32 ? "float32" : "float64"; }

// Calls f(float{}) or f(double{}) by a's element type: kernels are templates on it.
template <typename Array, typename F>
void Dispatch(const Array& a, F f) {
  if (a.dtype == DType::kFloat32) f(float{});
  else f(double{});
}

template <typename Array>
void CheckSameDtype(const char* name, const Array& a, const Array& b) {
  if (a.dtype != b.dtype)
    throw pybind11::type_error(std::string(name) + ": dtypes " + a.dtype_name() + " and " + b.dtype_name() +
                               " differ");
}

// A MemoryError (pybind11 has no C++ exception for it). Only from bindings, which hold the GIL.
[[noreturn]] inline void ThrowMemoryError(const std::string& message) {
  PyErr_SetString(PyExc_MemoryError, message.c_str());
  throw pybind11::error_already_set();
}

// A size (a count of elements, rows, ...) passed from Python: a ValueError names a negative one.
inline size_t CheckDim(const char* name, const char* what, int64_t value) {
  if (value < 0)
    throw pybind11::value_error(std::string(name) + ": " + what + " " + std::to_string(value) + " is negative");
  return static_cast<size_t>(value);
}

// The product of `factors` (element counts), or a ValueError naming them all when it exceeds
// PTRDIFF_MAX: no buffer holds more elements than that, and kernels index with int64_t.
inline size_t CheckedProduct(const char* name, const char* what, std::initializer_list<size_t> factors) {
  size_t product = 1;
  bool overflow = false;
  for (size_t f : factors) overflow = __builtin_mul_overflow(product, f, &product) || overflow;
  if (overflow || product > static_cast<size_t>(std::numeric_limits<ptrdiff_t>::max())) {
    if (std::find(factors.begin(), factors.end(), size_t(0)) != factors.end()) return 0;
    std::string text;
    for (size_t f : factors) text += (text.empty() ? "" : " x ") + std::to_string(f);
    throw pybind11::value_error(std::string(name) + ": " + what + " " + text + " is too large (more than 2^63 - 1)");
  }
  return product;
}

// The bytes of a buffer of `size` elements of `elem_size` bytes each: a ValueError names a size
// whose byte count would not fit in memory's address range (more than PTRDIFF_MAX bytes).
inline size_t CheckedBytes(const char* name, size_t size, size_t elem_size, const std::string& dtype) {
  size_t bytes;
  if (__builtin_mul_overflow(size, elem_size, &bytes) ||
      bytes > static_cast<size_t>(std::numeric_limits<ptrdiff_t>::max()))
    throw pybind11::value_error(std::string(name) + ": size " + std::to_string(size) + " of " + dtype +
                                " is too large: " + std::to_string(elem_size) +
                                " bytes each is more than 2^63 - 1 bytes");
  return bytes;
}

template <typename Array>
void CheckSize(const char* name, const char* what, const Array& a, size_t need) {
  if (a.size < need)
    throw pybind11::value_error(std::string(name) + ": " + what + " holds " + std::to_string(a.size) +
                                " elements, expected at least " + std::to_string(need));
}

// Row indices for take_rows / index_add_rows into a table of `size` elements in rows of `cols`
// (a ValueError for cols == 0; an IndexError names the first index outside the table's rows).
inline std::vector<int64_t> CheckRows(const char* name, const pybind11::array_t<int64_t>& idx,
                                      size_t size, size_t cols) {
  if (cols == 0) throw pybind11::value_error(std::string(name) + ": cols must be positive");
  const size_t rows = size / cols;
  std::vector<int64_t> out(idx.size());
  const int64_t* data = idx.data();  // C-contiguous: the bindings take c_style | forcecast
  for (pybind11::ssize_t i = 0; i < idx.size(); ++i) {
    const int64_t r = data[i];
    if (r < 0 || static_cast<size_t>(r) >= rows)
      throw pybind11::index_error(std::string(name) + ": row " + std::to_string(r) + " is outside 0.." +
                                  std::to_string(static_cast<int64_t>(rows) - 1));
    out[i] = r;
  }
  return out;
}

// The operands of lstm_gates (state: c, h', c') and lstm_gates_backward (state: c, dh', dc',
// d c; with d pre): one dtype; pre and d pre hold batch x 4 hidden elements, the rest batch x hidden.
template <typename Array>
void CheckLstm(const char* name, const Array& pre, std::initializer_list<const Array*> state,
               const Array* dpre, size_t batch, size_t hidden) {
  const size_t gates = CheckedProduct(name, "4 x batch x hidden =", {4, batch, hidden});
  CheckSize(name, "pre", pre, gates);
  if (dpre != nullptr) {
    CheckSameDtype(name, pre, *dpre);
    CheckSize(name, "dpre", *dpre, gates);
  }
  for (const Array* x : state) {
    CheckSameDtype(name, pre, *x);
    CheckSize(name, "an operand", *x, batch * hidden);
  }
}

inline std::string ShapeText(const Shape& shape) {
  std::string text = "(";
  for (size_t d = 0; d < shape.size(); ++d) text += (d ? ", " : "") + std::to_string(shape[d]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

// The number of elements of the strided view (shape, strides, offset), which must lie inside a
// buffer of `size` elements: a ValueError names a negative size or offset, or an element count
// beyond PTRDIFF_MAX; an IndexError names the elements the view would reach otherwise. Sums
// and products are checked, so that no stride, however large, wraps back inside the buffer.
inline size_t CheckView(const char* name, const Shape& shape, const Shape& strides, int64_t offset, size_t size) {
  const std::string prefix = std::string(name) + ": ";
  if (shape.size() != strides.size())
    throw pybind11::value_error(prefix + "shape has " + std::to_string(shape.size()) + " axes but strides " +
                                std::to_string(strides.size()));
  if (offset < 0) throw pybind11::value_error(prefix + "offset " + std::to_string(offset) + " is negative");
  int64_t count = 1;
  bool too_many = false;
  for (int64_t n : shape)
    if (n < 0) throw pybind11::value_error(prefix + "negative size " + std::to_string(n) + " in shape " + ShapeText(shape));
  for (int64_t n : shape) {
    if (n == 0) return 0;  // an empty view reaches nothing
    too_many = __builtin_mul_overflow(count, n, &count) || too_many;
  }
  if (too_many)
    throw pybind11::value_error(prefix + "shape " + ShapeText(shape) + " has more than 2^63 - 1 elements");
  int64_t lo = offset, hi = offset;
  for (size_t d = 0; d < shape.size(); ++d) {
    int64_t reach = 0;  // from the axis's first element to its last, in elements
    bool wraps = __builtin_mul_overflow(shape[d] - 1, strides[d], &reach);
    wraps = wraps || (reach < 0 ? __builtin_add_overflow(lo, reach, &lo) : __builtin_add_overflow(hi, reach, &hi));
    if (wraps)
      throw pybind11::index_error(prefix + "stride " + std::to_string(strides[d]) + " of axis " + std::to_string(d) +
                                  " (strides " + ShapeText(strides) + ", shape " + ShapeText(shape) +
                                  ") reaches beyond element 2^63 of a buffer of " + std::to_string(size));
  }
  if (lo < 0 || static_cast<uint64_t>(hi) >= size)
    throw pybind11::index_error(prefix + "the strided view reaches elements " + std::to_string(lo) + ".." +
                                std::to_string(hi) + " of a buffer of " + std::to_string(size) + " (shape " +
                                ShapeText(shape) + ", strides " + ShapeText(strides) + ", offset " +
                                std::to_string(offset) + ")");
  return static_cast<size_t>(count);
}

// Freed buffers kept by size for the next request of the same size, up to `capacity` bytes in
// all, as PyTorch's caching allocators do: a training step allocates the same shapes every
// time, and a kept buffer costs neither the allocator (cudaMalloc synchronises the GPU) nor
// fresh pages. Used by both backends; calls are serialised by the GIL.
class BufferCache {
 public:
  explicit BufferCache(size_t capacity) : capacity_(capacity) {}

  // A kept buffer of exactly `bytes`, or nullptr.
  void* Take(size_t bytes) {
    auto it = free_.find(bytes);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* ptr = it->second.back();
    it->second.pop_back();
    held_ -= bytes;
    return ptr;
  }

  // Keeps `ptr` if the cache has room; false if the caller must free it.
  bool Keep(void* ptr, size_t bytes) {
    if (held_ + bytes > capacity_) return false;
    free_[bytes].push_back(ptr);
    held_ += bytes;
    return true;
  }

  // Hands every kept buffer to `release` (free, cudaFree) and forgets it.
  template <typename Release>
  void Clear(Release release) {
    for (auto& entry : free_)
      for (void* ptr : entry.second) release(ptr);
    free_.clear();
    held_ = 0;
  }

 private:
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t held_ = 0;
  size_t capacity_;
};

}  // namespace needle
