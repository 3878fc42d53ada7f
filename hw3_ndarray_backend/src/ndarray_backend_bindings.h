// The Python interface of needle's compiled backends (given code): one binding table, shared by
// the CPU module (src/ndarray_backend_cpu.cc, hw3) and the CUDA modules (src/ndarray_backend_cuda.cu,
// hw4, built by nvcc and, emulated, by the host compiler). BindBackend<Backend>(m) registers the
// Array type and every kernel under its Python name. Each binding first checks its arguments
// (ndarray_backend_common.h), so that a bad call raises a Python exception naming the problem
// instead of reading or writing outside a buffer, then dispatches on the dtype to the backend's
// launcher of the same name for that element type T.
//
// A Backend is a struct of static members, one per kernel, each named like its Python caller:
//   Array                                 the buffer type (size, elem_size, dtype, ptr, data<T>(),
//                                         dtype_name(), and a constructor (size, dtype))
//   kModuleLocal                          whether Array is registered py::module_local()
//   CheckView(name, shape, strides, offset, size) -> size_t
//                                         CheckView of ndarray_backend_common.h plus the
//                                         backend's own limits; the view's element count
//   CheckReduce(name, outer, inner)       the backend's own limits on a reduction's shape
//   CopyToDevice(dst, src, bytes), CopyOnDevice(dst, src, bytes)      host -> buffer, buffer -> buffer
//   ToNumpy<T>(a, shape, strides, offset) -> py::array_t<T>            a checked view, copied out
//   Fill<T>(out, val)
//   Compact<T>, EwiseSetitem<T> (a, out, shape, strides, offset, count); ScalarSetitem<T> (val, ...)
//   EwiseBinary<T, Op>(a, b, out, n), ScalarBinary<T, Op>(a, val, out, n), EwiseUnary<T, Op>(a, out, n)
//   Reduce<T, Op>(a, out, outer, size, inner, init)
//   Matmul<T>, MatmulNaive<T>(a, b, out, m, n, p)                     pointers into one batch entry
//   LstmGates<T>, LstmGatesBackward<T>                                 pointers, as the kernels take
//   TakeRows<T>, IndexAddRows<T>(a, rows, out, cols)                   rows already checked
//   Add, Mul, Div, Pow, Maximum, Eq, Ge, Log, Exp, Tanh, Sigmoid       the element-wise functors
// Launchers are called only with arguments that passed the checks, so they need none of their
// own; the view, setitem, matmul, reduction, LSTM and row launchers never with zero elements.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ndarray_backend_common.h"

namespace needle {

namespace py = pybind11;

// ewise_<name>(a, b, out): out = op(a, b); scalar_<name>(a, val, out): out = op(a, val).
template <typename Backend, typename Op>
void BindBinary(py::module_& m, const char* ewise, const char* scalar) {
  using Array = typename Backend::Array;
  m.def(ewise, [ewise](const Array& a, const Array& b, Array* out) {
    CheckSameDtype(ewise, a, b);
    CheckSameDtype(ewise, a, *out);
    if (a.size != out->size || b.size != out->size)
      throw py::value_error(std::string(ewise) + ": sizes " + std::to_string(a.size) + ", " +
                            std::to_string(b.size) + " and " + std::to_string(out->size) + " differ");
    Dispatch(a, [&](auto t) { Backend::template EwiseBinary<decltype(t), Op>(a, b, out, out->size); });
  }, py::arg("a"), py::arg("b"), py::arg("out"));
  m.def(scalar, [scalar](const Array& a, double val, Array* out) {
    CheckSameDtype(scalar, a, *out);
    CheckSize(scalar, "out", *out, a.size);
    Dispatch(a, [&](auto t) {
      using T = decltype(t);
      Backend::template ScalarBinary<T, Op>(a, static_cast<T>(val), out, a.size);
    });
  }, py::arg("a"), py::arg("val"), py::arg("out"));
}

// ewise_<name>(a, out): out = op(a).
template <typename Backend, typename Op>
void BindUnary(py::module_& m, const char* name) {
  using Array = typename Backend::Array;
  m.def(name, [name](const Array& a, Array* out) {
    CheckSameDtype(name, a, *out);
    CheckSize(name, "out", *out, a.size);
    Dispatch(a, [&](auto t) { Backend::template EwiseUnary<decltype(t), Op>(a, out, a.size); });
  }, py::arg("a"), py::arg("out"));
}

// matmul / matmul_naive(a, b, out, batch, m, n, p): out[i] (m x p) = a[i] (m x n) @ b[i] (n x p)
// for each i < batch, all compact.
template <typename Backend, bool kNaive>
void BindMatmul(py::module_& m, const char* name) {
  using Array = typename Backend::Array;
  m.def(name, [name](const Array& a, const Array& b, Array* out, int64_t batch_in, int64_t m_in, int64_t n_in,
                     int64_t p_in) {
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
        const T* ai = a.template data<T>() + i * rows * inner;
        const T* bi = b.template data<T>() + i * inner * cols;
        T* oi = out->template data<T>() + i * rows * cols;
        if (kNaive) Backend::template MatmulNaive<T>(ai, bi, oi, rows, inner, cols);
        else Backend::template Matmul<T>(ai, bi, oi, rows, inner, cols);
      }
    });
  }, py::arg("a"), py::arg("b"), py::arg("out"), py::arg("batch"), py::arg("m"), py::arg("n"), py::arg("p"));
}

// reduce_sum / reduce_max(a, out, outer, size, inner): a compact (outer, size, inner) reduced
// over its middle axis into out (outer, inner). A max over an empty axis is a ValueError.
template <typename Backend, bool kMax>
void BindReduce(py::module_& m, const char* name) {
  using Array = typename Backend::Array;
  m.def(name, [name](const Array& a, Array* out, int64_t outer_in, int64_t size_in, int64_t inner_in) {
    const size_t outer = CheckDim(name, "outer", outer_in), size = CheckDim(name, "size", size_in),
                 inner = CheckDim(name, "inner", inner_in);
    CheckSameDtype(name, a, *out);
    CheckSize(name, "a", a, CheckedProduct(name, "outer x size x inner =", {outer, size, inner}));
    CheckSize(name, "out", *out, CheckedProduct(name, "outer x inner =", {outer, inner}));
    Backend::CheckReduce(name, outer, inner);
    if (kMax && size == 0) throw py::value_error(std::string(name) + ": cannot reduce an empty axis");
    if (outer * inner == 0) return;
    Dispatch(a, [&](auto t) {
      using T = decltype(t);
      if (kMax)
        Backend::template Reduce<T, typename Backend::Maximum>(a, out, outer, size, inner,
                                                               -std::numeric_limits<T>::infinity());
      else Backend::template Reduce<T, typename Backend::Add>(a, out, outer, size, inner, T(0));
    });
  }, py::arg("a"), py::arg("out"), py::arg("outer"), py::arg("size"), py::arg("inner"));
}

// The Array type and every kernel of `Backend`, under their Python names, in module m.
template <typename Backend>
void BindBackend(py::module_& m) {
  using Array = typename Backend::Array;
  py::class_<Array>(m, "Array", py::module_local(Backend::kModuleLocal))
      .def(py::init<int64_t, const std::string&>(), py::arg("size"), py::arg("dtype") = "float32",
           py::return_value_policy::take_ownership)
      .def("ptr", &Array::ptr_as_int)
      .def_readonly("size", &Array::size)
      .def_property_readonly("dtype", &Array::dtype_name);

  m.def("to_numpy", [](const Array& a, const Shape& shape, const Shape& strides, int64_t offset) -> py::object {
    Backend::CheckView("to_numpy", shape, strides, offset, a.size);
    if (a.dtype == DType::kFloat32) return Backend::template ToNumpy<float>(a, shape, strides, offset);
    return Backend::template ToNumpy<double>(a, shape, strides, offset);
  });
  m.def("from_numpy", [](py::array a, Array* out) {
    const std::string kind = py::str(a.dtype());
    if (kind != out->dtype_name())
      throw py::type_error("from_numpy: array dtype " + kind + " differs from the buffer's " + out->dtype_name());
    if (!(a.flags() & py::array::c_style)) throw py::value_error("from_numpy: the array must be C-contiguous");
    if (static_cast<size_t>(a.size()) > out->size)
      throw py::value_error("from_numpy: " + std::to_string(a.size()) + " elements do not fit in a buffer of " +
                            std::to_string(out->size));
    Backend::CopyToDevice(out->ptr, a.data(), a.size() * out->elem_size);
  });
  m.def("fill", [](Array* out, double val) {
    Dispatch(*out, [&](auto t) {
      using T = decltype(t);
      Backend::template Fill<T>(out, static_cast<T>(val));
    });
  });

  // The view kernels' offsets are int64_t here so that a negative one is named, not refused by
  // pybind11; CheckView passes only offsets in [0, size).
  m.def("compact", [](const Array& a, Array* out, const Shape& shape, const Shape& strides, int64_t offset) {
    CheckSameDtype("compact", a, *out);
    const size_t count = Backend::CheckView("compact", shape, strides, offset, a.size);
    CheckSize("compact", "out", *out, count);
    if (count == 0) return;
    Dispatch(a, [&](auto t) { Backend::template Compact<decltype(t)>(a, out, shape, strides, offset, count); });
  });
  m.def("ewise_setitem", [](const Array& a, Array* out, const Shape& shape, const Shape& strides, int64_t offset) {
    CheckSameDtype("ewise_setitem", a, *out);
    const size_t count = Backend::CheckView("ewise_setitem", shape, strides, offset, out->size);
    CheckSize("ewise_setitem", "a", a, count);
    if (count == 0) return;
    // a and out one buffer (x[::-1] = x): the view is written from a copy of a, as NumPy does.
    std::unique_ptr<Array> copy;
    if (a.ptr == out->ptr) {
      copy = std::make_unique<Array>(static_cast<int64_t>(count), a.dtype_name());
      Backend::CopyOnDevice(copy->ptr, a.ptr, count * a.elem_size);
    }
    const Array& src = copy ? *copy : a;
    Dispatch(a, [&](auto t) { Backend::template EwiseSetitem<decltype(t)>(src, out, shape, strides, offset, count); });
  });
  m.def("scalar_setitem", [](int64_t size, double val, Array* out, const Shape& shape, const Shape& strides,
                             int64_t offset) {
    const size_t count = Backend::CheckView("scalar_setitem", shape, strides, offset, out->size);
    if (size < 0 || count != static_cast<size_t>(size))
      throw py::value_error("scalar_setitem: size " + std::to_string(size) + " but the view has " +
                            std::to_string(count) + " elements");
    if (count == 0) return;
    Dispatch(*out, [&](auto t) {
      using T = decltype(t);
      Backend::template ScalarSetitem<T>(static_cast<T>(val), out, shape, strides, offset, count);
    });
  });

  BindBinary<Backend, typename Backend::Add>(m, "ewise_add", "scalar_add");
  BindBinary<Backend, typename Backend::Mul>(m, "ewise_mul", "scalar_mul");
  BindBinary<Backend, typename Backend::Div>(m, "ewise_div", "scalar_div");
  BindBinary<Backend, typename Backend::Pow>(m, "ewise_power", "scalar_power");
  BindBinary<Backend, typename Backend::Maximum>(m, "ewise_maximum", "scalar_maximum");
  BindBinary<Backend, typename Backend::Eq>(m, "ewise_eq", "scalar_eq");
  BindBinary<Backend, typename Backend::Ge>(m, "ewise_ge", "scalar_ge");
  BindUnary<Backend, typename Backend::Log>(m, "ewise_log");
  BindUnary<Backend, typename Backend::Exp>(m, "ewise_exp");
  BindUnary<Backend, typename Backend::Tanh>(m, "ewise_tanh");
  BindUnary<Backend, typename Backend::Sigmoid>(m, "ewise_sigmoid");

  m.def("lstm_gates", [](const Array& pre, const Array& c, Array* h_out, Array* c_out, int64_t batch_in,
                         int64_t hidden_in) {
    const size_t batch = CheckDim("lstm_gates", "batch", batch_in), hidden = CheckDim("lstm_gates", "hidden", hidden_in);
    CheckLstm<Array>("lstm_gates", pre, {&c, h_out, c_out}, nullptr, batch, hidden);
    if (batch * hidden == 0) return;
    Dispatch(pre, [&](auto t) {
      using T = decltype(t);
      Backend::template LstmGates<T>(pre.template data<T>(), c.template data<T>(), h_out->template data<T>(),
                                     c_out->template data<T>(), batch, hidden);
    });
  });
  m.def("lstm_gates_backward", [](const Array& pre, const Array& c, const Array& dh, const Array& dc, Array* dpre,
                                  Array* dc_out, int64_t batch_in, int64_t hidden_in) {
    const size_t batch = CheckDim("lstm_gates_backward", "batch", batch_in),
                 hidden = CheckDim("lstm_gates_backward", "hidden", hidden_in);
    CheckLstm<Array>("lstm_gates_backward", pre, {&c, &dh, &dc, dc_out}, dpre, batch, hidden);
    if (batch * hidden == 0) return;
    Dispatch(pre, [&](auto t) {
      using T = decltype(t);
      Backend::template LstmGatesBackward<T>(pre.template data<T>(), c.template data<T>(), dh.template data<T>(),
                                             dc.template data<T>(), dpre->template data<T>(),
                                             dc_out->template data<T>(), batch, hidden);
    });
  });

  // Rows of a table by index (an embedding lookup) and its adjoint, adding rows back.
  using Indices = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
  m.def("take_rows", [](const Array& a, Indices idx, Array* out, int64_t cols_in) {
    const size_t cols = CheckDim("take_rows", "cols", cols_in);
    CheckSameDtype("take_rows", a, *out);
    const std::vector<int64_t> rows = CheckRows("take_rows", idx, a.size, cols);
    CheckSize("take_rows", "out", *out, CheckedProduct("take_rows", "rows x cols =", {rows.size(), cols}));
    if (rows.empty()) return;
    Dispatch(a, [&](auto t) { Backend::template TakeRows<decltype(t)>(a, rows, out, cols); });
  }, py::arg("a"), py::arg("idx"), py::arg("out"), py::arg("cols"));
  m.def("index_add_rows", [](const Array& a, Indices idx, Array* out, int64_t cols_in) {
    const size_t cols = CheckDim("index_add_rows", "cols", cols_in);
    CheckSameDtype("index_add_rows", a, *out);
    const std::vector<int64_t> rows = CheckRows("index_add_rows", idx, out->size, cols);
    CheckSize("index_add_rows", "a", a, CheckedProduct("index_add_rows", "rows x cols =", {rows.size(), cols}));
    if (rows.empty()) return;
    Dispatch(a, [&](auto t) { Backend::template IndexAddRows<decltype(t)>(a, rows, out, cols); });
  }, py::arg("a"), py::arg("idx"), py::arg("out"), py::arg("cols"));

  BindMatmul<Backend, false>(m, "matmul");
  BindMatmul<Backend, true>(m, "matmul_naive");
  BindReduce<Backend, false>(m, "reduce_sum");
  BindReduce<Backend, true>(m, "reduce_max");
}

}  // namespace needle
