// What needle's compiled backends share (given code): the element types, and the checks their
// bindings make before any kernel runs, so that a bad call raises a Python exception naming the
// problem instead of reading or writing outside a buffer. Used by the CPU backend (hw3) and
// the CUDA backend (hw4); `Array` is each backend's buffer type, with `size` (elements),
// `dtype` (a DType) and `dtype_name()`.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
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
  CheckSize(name, "pre", pre, 4 * batch * hidden);
  if (dpre != nullptr) {
    CheckSameDtype(name, pre, *dpre);
    CheckSize(name, "dpre", *dpre, 4 * batch * hidden);
  }
  for (const Array* x : state) {
    CheckSameDtype(name, pre, *x);
    CheckSize(name, "an operand", *x, batch * hidden);
  }
}

// The number of elements of the strided view (shape, strides, offset), which must lie inside a
// buffer of `size` elements (an IndexError names the elements it would reach otherwise).
inline size_t CheckView(const char* name, const Shape& shape, const Shape& strides, size_t offset, size_t size) {
  if (shape.size() != strides.size())
    throw pybind11::value_error(std::string(name) + ": shape has " + std::to_string(shape.size()) +
                                " axes but strides " + std::to_string(strides.size()));
  int64_t lo = offset, hi = offset, count = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0) throw pybind11::value_error(std::string(name) + ": negative size in shape");
    count *= shape[d];
    if (shape[d] == 0) continue;
    const int64_t reach = (shape[d] - 1) * strides[d];
    (reach < 0 ? lo : hi) += reach;
  }
  if (count > 0 && (lo < 0 || hi >= static_cast<int64_t>(size)))
    throw pybind11::index_error(std::string(name) + ": the strided view reaches elements " + std::to_string(lo) +
                                ".." + std::to_string(hi) + " of a buffer of " + std::to_string(size));
  return count;
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
