"""The array contract: the one list of array functions needle code may call through ``array_api``.

needle's ops never import an array library: they call ``array_api.<name>`` (see
``backend_selection``), and ``array_api`` is NumPy in hw1 and hw2, then needle's own NDArray
module (``backend_ndarray``) from hw3 on. A NumPy function that the NDArray module lacks
(``array_api.add``, say) would pass hw1 and break at hw3, so student code may call only the
functions below: those every backend provides, in the form every backend accepts. In hw1 and
hw2 ``array_api`` holds nothing else (and ``ndarray``, the array type), so any other name
raises AttributeError at once.

Everything else is done with the arrays' operators and the attributes in ``NDARRAY_METHODS``.
Only the function names are enforced in hw1 and hw2: the arrays there are plain NumPy arrays,
so a method outside ``NDARRAY_METHODS`` (``a.T``, ``a.mean()``, ``a.clip()``) or a keyword not
in the call forms below (``flip(a, axis=...)``) still works there and fails at hw3. Pass the
arguments positionally, as written below, and use only the listed methods.
From hw5 on, needle runs on the NDArray module alone, and hw5's ops also call the functions
that module adds (``backend_ndarray.ndarray.__all__``: ``sigmoid``, ``take_rows``, ...).

Example:
    >>> from needle.array_contract import ARRAY_API
    >>> "add" in ARRAY_API, ARRAY_API["exp"]
    (False, 'exp(a): e ** a elementwise')
"""
from __future__ import annotations

import types

# name: the call form every backend accepts, and what it returns. Pass ``dtype`` to array,
# empty and full: NumPy's default is float64 and the NDArray module's float32.
ARRAY_API: dict[str, str] = {
    "array": "array(a, dtype=None): a new array holding a copy of a "
             "(a list, a number or a NumPy array)",
    "empty": "empty(shape, dtype): a new array of that shape, its values unset",
    "full": "full(shape, fill_value, dtype): a new array of that shape, every value fill_value",
    "reshape": "reshape(a, shape): a's values in row-major order under a new shape "
               "(one -1 allowed)",
    "broadcast_to": "broadcast_to(a, shape): a repeated along new leading axes and axes "
                    "of length 1",
    "swapaxes": "swapaxes(a, axis1, axis2): a with two axes exchanged",
    "flip": "flip(a, axes): a reversed along axes (an int or a tuple of ints)",
    "pad": "pad(a, pad_width): a with zeros added, pad_width = ((before, after), ...), "
           "one pair per axis",
    "stack": "stack(arrays, axis=0): arrays of one shape joined along a new axis",
    "matmul": "matmul(a, b): the matrix product over the last two axes, batched over "
              "the others",
    "sum": "sum(a, axis=None, keepdims=False): the sum over axis "
           "(None: all, giving shape (); an int; a tuple)",
    "max": "max(a, axis=None, keepdims=False): the maximum over axis "
           "(None: all, giving shape (); an int; a tuple)",
    "maximum": "maximum(a, b): the larger of a and b elementwise "
               "(b an array of a's shape, or a number)",
    "power": "power(a, b): a ** b elementwise (b an array of a's shape, or a number)",
    "log": "log(a): the natural logarithm elementwise",
    "exp": "exp(a): e ** a elementwise",
    "tanh": "tanh(a): the hyperbolic tangent elementwise",
}

# The array attributes and methods student code may use, which NumPy's and needle's arrays
# share with one meaning. Operators: + - * / between arrays of one shape or with a number
# (either side), ** with an array or a number as exponent, unary -, @, indexing a[i] with ints
# and slices, and comparisons == != < <= > >=, whose result (bool in NumPy, 0.0/1.0 in
# NDArray) goes through .astype(dtype) before any arithmetic.
NDARRAY_METHODS: dict[str, str] = {
    "shape": "a.shape: the shape, a tuple of ints",
    "dtype": "a.dtype: the element type (a NumPy dtype: float32 or float64)",
    "ndim": "a.ndim: the number of axes",
    "size": "a.size: the number of elements",
    "reshape": "a.reshape(shape): as reshape(a, shape), shape a tuple",
    "astype": "a.astype(dtype): a copy with elements of another type",
    "sum": "a.sum(axis=None, keepdims=False): as sum(a, ...)",
    "max": "a.max(axis=None, keepdims=False): as max(a, ...)",
    "copy": "a.copy(): a new array with the same values",
}


class ArrayNamespace(types.ModuleType):
    """A module holding only the contract's functions, taken from one array library.

    Asking it for any other name raises an AttributeError that lists the contract, so code
    that would break on another backend fails on this one too.

    Example:
        >>> import numpy
        >>> api = ArrayNamespace("numpy_contract", numpy)
        >>> api.exp(numpy.zeros(2)).tolist()
        [1.0, 1.0]
        >>> api.add  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        AttributeError: array_api has no 'add': student code may call only the array contract's ...
    """

    def __init__(self, name: str, library: types.ModuleType, **extra: object):
        """Take each name of ``ARRAY_API`` from ``library``; ``extra`` adds other attributes
        (backend_selection's ``ndarray``, the array type)."""
        super().__init__(name, f"The array contract's functions, from {library.__name__}.")
        for function in ARRAY_API:
            setattr(self, function, getattr(library, function))
        for attribute, value in extra.items():
            setattr(self, attribute, value)

    def __getattr__(self, name: str):
        # Called only for a name the namespace does not hold.
        raise AttributeError(f"array_api has no {name!r}: student code may call only the array "
                             f"contract's functions (needle/array_contract.py): "
                             f"{', '.join(ARRAY_API)}")
