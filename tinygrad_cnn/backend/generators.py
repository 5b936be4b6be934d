"""The library's random generators, all seeded by one ``manual_seed``.

- The host generator, a NumPy ``Generator``: weights, shuffles and augmentations are drawn
  here, so a CPU run and a GPU run of one seed start from the same weights.
- :class:`CounterRNG`, for draws made on an accelerator (dropout masks stay on the GPU).
"""

from __future__ import annotations

import numbers

import numpy as np

_MASK64 = (1 << 64) - 1
#: The seeds :func:`seed_all` accepts, PyTorch's range: any signed or unsigned 64-bit integer.
SEED_MIN, SEED_MAX = -(1 << 63), _MASK64


def _splitmix64(x):
    """A stateless 64-bit mixer (Steele et al.'s SplitMix64 finaliser) on uint64 arrays;
    integer overflow wraps on NumPy and CuPy alike."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _mix(x: int) -> int:
    """:func:`_splitmix64` on one Python integer (NumPy scalars would warn on overflow)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


class CounterRNG:
    """Uniform draws computed on the device as ``hash(key, counter + i)``.

    CuPy's generators keep their state inside cuRAND, where it can be neither read nor set,
    so a resumed GPU run could not replay its dropout masks. Here the whole state is two
    integers (the key and how many numbers were drawn), kept on the host: saving and
    restoring it is exact, and drawing needs no host-device synchronisation.
    """

    def __init__(self, xp, seed: int):
        self.xp = xp
        self.key = _mix(int(seed) & _MASK64)  # nearby seeds give unrelated streams
        self.counter = 0

    def random(self, shape, dtype=np.float32):
        """Uniform values in [0, 1): the top 24 (float32) or 53 (float64) bits of a hash."""
        xp, n = self.xp, int(np.prod(shape, dtype=np.int64))
        index = xp.arange(self.counter, self.counter + n, dtype=np.uint64)
        self.counter += n
        bits = _splitmix64(index ^ np.uint64(self.key))
        if np.dtype(dtype) == np.float64:
            values = (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
        else:
            values = (bits >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))
        return values.reshape(shape)

    @classmethod
    def from_state(cls, xp, state: dict) -> CounterRNG:
        """A generator on array module ``xp`` that continues from :meth:`state`."""
        rng = cls.__new__(cls)
        rng.xp = xp
        rng.set_state(state)
        return rng

    def state(self) -> dict:
        """``{"key": int, "counter": int}``: plain integers, so a checkpoint holds it on any
        machine, one without a GPU included."""
        return {"key": self.key, "counter": self.counter}

    def set_state(self, state: dict) -> None:
        checked = check_counter_state(state)
        self.key, self.counter = checked["key"], checked["counter"]


def check_counter_state(state) -> dict:
    """``state`` as a :class:`CounterRNG` state of two Python integers, or ``ValueError``
    saying what is wrong with it (read from a checkpoint, it may have been edited)."""
    try:
        key, counter = state["key"], state["counter"]
    except (TypeError, KeyError):
        raise ValueError(f"a device generator's state is {{'key': int, 'counter': int}}, "
                         f"got {state!r:.80}; the checkpoint holding it is damaged") from None
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
               for v in (key, counter)) or not (0 <= key <= _MASK64 and 0 <= counter):
        raise ValueError(f"a device generator's state needs a key in [0, 2**64) and a "
                         f"counter >= 0, got key {key!r:.30} and counter {counter!r:.30}; "
                         f"the checkpoint holding it is damaged")
    return {"key": int(key), "counter": int(counter)}


# ----------------------------------------------------------------------------- the host

_seed = None
_host = np.random.default_rng()


def host() -> np.random.Generator:
    """The host generator (a new object after each :func:`seed_all`)."""
    return _host


def canonical_seed(seed) -> int:
    """``seed`` as the generators use it, by PyTorch's rule: an integer from ``-2**63`` to
    ``2**64 - 1``, a negative one taken as its unsigned 64-bit twin (``-1`` is
    ``2**64 - 1``, as ``torch.initial_seed()`` reports after ``torch.manual_seed(-1)``), so
    both spellings draw the same numbers.

    Raises
    ------
    ValueError
        Not an integer (True and False are not seeds), or outside that range.
    """
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) \
            or not SEED_MIN <= seed <= SEED_MAX:
        raise ValueError(f"seed must be an integer from -2**63 to 2**64 - 1 (PyTorch's range), "
                         f"got {seed!r}")
    return int(seed) & _MASK64


def seed_all(seed: int) -> None:
    """A fresh host generator from ``seed`` (see :func:`canonical_seed`), remembered for the
    device generators."""
    global _seed, _host
    _seed = canonical_seed(seed)
    _host = np.random.default_rng(_seed)


def device_seed() -> int:
    """The seed of a new device generator: the library's seed, or one drawn from the host
    generator when none was given (so a seeded run stays reproducible either way)."""
    return _seed if _seed is not None else int(_host.integers(2**63))


def host_state() -> dict:
    """The seed and the host generator's state, for checkpoints."""
    return {"seed": _seed, "bit_generator": _host.bit_generator.state}


def set_host_state(state: dict) -> None:
    """Restore what :func:`host_state` returned."""
    global _seed
    _seed = state.get("seed")
    _host.bit_generator.state = state["bit_generator"]
