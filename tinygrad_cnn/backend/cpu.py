"""The host: NumPy arrays in main memory, random draws from the library's NumPy generator."""

from __future__ import annotations

import numpy as np

from . import generators
from .device import Device


class CPU(Device):
    """NumPy arrays in host memory; random draws from the library's NumPy generator."""

    name, aliases = "cpu", ("cpu",)
    xp = np
    # measured on LeNet-5's conv1 blocks (training and inference): 0.35-0.5 MiB best;
    # at 0.7 MiB and up its products leave OpenBLAS's small-matrix kernel, 2x slower
    working_set_bytes = 1 << 19

    def probe(self):
        return True, "NumPy is always usable"

    def upload(self, array):
        return np.asarray(array)

    def download(self, array):
        return np.asarray(array)

    def scatter_add(self, positions, values, size):
        # bincount is NumPy's fast scatter-add (np.add.at is an order of magnitude slower)
        return np.bincount(positions, weights=values, minlength=size)

    @property
    def rng(self):
        return generators.host()

    def rng_state(self):
        return generators.host_state()

    def set_rng_state(self, state):
        generators.set_host_state(state)
