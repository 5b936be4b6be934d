"""``import cupy`` gives the CuPy test double (this folder is put on PYTHONPATH by
tests/conftest.py when TINYGRAD_CNN_TEST_CUPY=double, so subprocesses get it too)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cupy_double  # noqa: E402

del sys.modules["cupy"]  # this shim; the import statement returns what install() puts there
cupy_double.install()
