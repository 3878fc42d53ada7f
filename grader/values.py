"""Reading the arrays a hidden test returned, in the trusted parent, from a file student code
may have written: every size, name, dtype and shape is checked before anything is loaded.
"""
from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .sandbox import read_regular

MAX_VALUES_BYTES = 16 << 20      # a test's .npz file, compressed
MAX_VALUE_BYTES = 64 << 20       # all of a test's arrays, uncompressed
MAX_VALUE_COUNT = 64             # arrays in one test's .npz

Arrays = dict[str, npt.NDArray[Any]]  # a test's values by name


class ValuesError(ValueError):
    """A test's values file is missing, malformed, too large or not like the answer key's."""


def read_values(path: Path, expected: Mapping[str, Any] | None = None) -> Arrays:
    """The arrays of an ``.npz`` the sandbox wrote, each checked before any of it is loaded.

    The file is read whole only up to ``MAX_VALUES_BYTES``; then, from the zip directory and
    each member's ``.npy`` header, before its data is decompressed: at most
    ``MAX_VALUE_COUNT`` members, ``MAX_VALUE_BYTES`` in all (as the directory states them, and
    decompression never reads past that), a plain numeric dtype (bool, int, uint or float, of
    either byte order; no objects, so nothing is unpickled), and, with ``expected`` (the
    answer key's arrays for the test), the same names and shapes. Arrays come back in native
    byte order.

    Raises:
        ValuesError: saying what was refused (never what was expected).
    """
    raw = read_regular(path, MAX_VALUES_BYTES)
    if raw is None:
        raise ValuesError(f"missing, not a regular file, or over {MAX_VALUES_BYTES >> 20} MiB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise ValuesError("not a readable .npz file") from error
    if len(members) > MAX_VALUE_COUNT:
        raise ValuesError(f"more than {MAX_VALUE_COUNT} arrays")
    if sum(m.file_size for m in members) > MAX_VALUE_BYTES:
        raise ValuesError(f"the arrays unpack to over {MAX_VALUE_BYTES >> 20} MiB")
    names = [m.filename[:-4] for m in members]
    if any(not m.filename.endswith(".npy") or not n.isidentifier()
           for m, n in zip(members, names, strict=True)) or len(set(names)) != len(names):
        raise ValuesError("its members are not named arrays")
    if expected is not None and set(names) != set(expected):
        raise ValuesError("the test's returned values are not the expected ones")
    values = {}
    for member, name in zip(members, names, strict=True):
        try:
            with archive.open(member) as stream:
                version = np.lib.format.read_magic(stream)
                read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}[version]
                shape, fortran, dtype = read_header(stream)  # a few kB at most, never pickled
                if dtype.hasobject or dtype.kind not in "biuf" or dtype.subdtype is not None:
                    raise ValuesError(f"value {name!r} is not a plain numeric array ({dtype.str})")
                if expected is not None and tuple(shape) != np.shape(expected[name]):
                    raise ValuesError(f"value {name!r} has the wrong shape")
                size = math.prod(shape) * dtype.itemsize
                if stream.tell() + size != member.file_size:
                    raise ValuesError(f"value {name!r}: its header and size disagree")
                data = stream.read(size)  # at most the (capped) size the directory states
                if len(data) != size:
                    raise ValuesError(f"value {name!r} is truncated")
        except ValuesError:
            raise
        except Exception as error:  # any malformed member is refused, never raised
            raise ValuesError(f"value {name!r} is not a readable array") from error
        array = np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")
        values[name] = np.array(array, dtype=dtype.newbyteorder("="), order="C")
    return values


def load_values(path: Path, expected: Mapping[str, Any] | None = None) -> Arrays | None:
    """``read_values``, or None if the file is refused."""
    try:
        return read_values(path, expected)
    except ValuesError:
        return None
