// hw0: softmax regression in C++, called from Python through pybind11.
//
// The Python-facing wrapper checks every argument and raises ValueError on bad input; the
// kernel below it works on raw row-major float buffers.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;

/**
 * One epoch of minibatch SGD for softmax regression, updating theta in place.
 *
 * Minibatches are consecutive rows in order (the last may be smaller). For each, written X
 * (B, n) with labels y (B,) as in the course notation (rows s..s+B-1 of the data, starting at
 * X + s * n): theta -= lr / B * X^T (softmax(X theta) - I_y), I_y (B, k) the one-hot labels,
 * the gradient computed for the whole minibatch before theta changes.
 *
 * Args:
 *   X: float32 row-major (m, n); y: uint8 labels (m,), each < k;
 *   theta: float32 row-major (n, k), modified in place;
 *   m, n, k: sizes; lr: learning rate; batch: minibatch size (> 0).
 */
void softmax_regression_epoch_cpp(const float *X, const unsigned char *y, float *theta,
                                  size_t m, size_t n, size_t k, float lr, size_t batch)
{
    // TODO (hw0, question 6): implement softmax_regression_epoch_cpp (Softmax regression in C++)
    throw std::runtime_error("not implemented: softmax_regression_epoch_cpp: hw0");
}

namespace {

/** Raise ValueError unless `array` is C-contiguous, of dtype T, with `ndim` axes. */
template <typename T>
void check_array(const py::array &array, const char *name, py::ssize_t ndim, bool writeable)
{
    if (!py::isinstance<py::array_t<T>>(array) || !array.dtype().is(py::dtype::of<T>()))
        throw std::invalid_argument(std::string(name) + " must have dtype " +
                                    std::string(py::str(py::dtype::of<T>())) + ", got " +
                                    std::string(py::str(array.dtype())));
    if (array.ndim() != ndim)
        throw std::invalid_argument(std::string(name) + " must have " + std::to_string(ndim) +
                                    " axes, got " + std::to_string(array.ndim()));
    if (!(array.flags() & py::array::c_style))
        throw std::invalid_argument(std::string(name) + " must be C-contiguous (use np.ascontiguousarray)");
    if (writeable && !array.writeable())
        throw std::invalid_argument(std::string(name) + " must be writeable: it is updated in place");
}

void softmax_regression_epoch_py(const py::array &X, const py::array &y, py::array &theta,
                                 float lr, int batch)
{
    check_array<float>(X, "X", 2, false);
    check_array<unsigned char>(y, "y", 1, false);
    check_array<float>(theta, "theta", 2, true);
    const size_t m = X.shape(0), n = X.shape(1), k = theta.shape(1);
    if (static_cast<size_t>(y.shape(0)) != m)
        throw std::invalid_argument("y has " + std::to_string(y.shape(0)) + " labels but X has " +
                                    std::to_string(m) + " rows");
    if (static_cast<size_t>(theta.shape(0)) != n)
        throw std::invalid_argument("theta has shape (" + std::to_string(theta.shape(0)) + ", " +
                                    std::to_string(k) + ") but X has " + std::to_string(n) +
                                    " columns");
    if (batch <= 0)
        throw std::invalid_argument("batch must be positive, got " + std::to_string(batch));
    const auto *labels = static_cast<const unsigned char *>(y.data());
    for (size_t i = 0; i < m; ++i)
        if (labels[i] >= k)
            throw std::invalid_argument("label " + std::to_string(labels[i]) + " is outside 0.." +
                                        std::to_string(k - 1) + " (" + std::to_string(k) + " classes)");
    softmax_regression_epoch_cpp(static_cast<const float *>(X.data()), labels,
                                 static_cast<float *>(theta.mutable_data()), m, n, k, lr,
                                 static_cast<size_t>(batch));
}

}  // namespace

PYBIND11_MODULE(simple_ml_ext, m)
{
    m.doc() = "hw0: softmax regression in C++";
    m.def("softmax_regression_epoch_cpp", &softmax_regression_epoch_py, py::arg("X"), py::arg("y"),
          py::arg("theta"), py::arg("lr") = 0.1, py::arg("batch") = 100,
          R"doc(One epoch of softmax regression SGD in C++, updating ``theta`` in place.

Args:
    X: float32 C-contiguous array (m, n).
    y: uint8 labels (m,), each in 0..k-1.
    theta: float32 C-contiguous writeable array (n, k), updated in place.
    lr: learning rate.
    batch: minibatch size (> 0).

Raises:
    ValueError: on a wrong dtype, number of axes, layout, size or label.)doc");
}
