"""The record every device fills in, and the errors of asking for one that cannot be used.

The package docstring (``backend/__init__.py``) says what each entry is for; this class is
where a new device starts: subclass it in a file of its own and add it to the registry.
"""

from __future__ import annotations


class DeviceError(RuntimeError):
    """A device was asked for that cannot be used here (no CuPy, no GPU, bad name)."""


class DeviceSettingError(DeviceError, ValueError):
    """``TINYGRAD_CNN_DEVICE`` holds a value that names no device."""


class Device:
    """What the library needs of one device.

    Attributes
    ----------
    name : str
        The canonical name (``device=`` arguments, ``Tensor.device``).
    aliases : tuple of str
        Every spelling a user may type, the name included (lower case).
    accelerator : bool
        False for the host (the one device whose arrays are NumPy arrays in main memory),
        True for a device with memory of its own: its arrays cross to the host only through
        :meth:`upload` and :meth:`download`.
    working_set_bytes : int or None
        How large the temporaries of one step of a chunked loop should be (a CPU's cache);
        None where large batches are best taken whole.
    """

    name = ""
    aliases: tuple = ()
    accelerator = False
    working_set_bytes = None

    @property
    def xp(self):
        """The array module (NumPy's API) holding this device's arrays."""
        raise NotImplementedError

    def probe(self) -> tuple[bool, str]:
        """Whether the device is usable here and why (not), from a real allocation."""
        raise NotImplementedError

    def owns(self, array) -> bool:
        """Whether ``array`` lives on this device (asked of accelerators: the host holds
        whatever no accelerator owns)."""
        raise NotImplementedError

    def upload(self, array):
        """Host data as an array on this device."""
        raise NotImplementedError

    def download(self, array):
        """One of this device's arrays as a NumPy array (waits for the device)."""
        raise NotImplementedError

    def synchronize(self) -> None:
        """Wait for the work queued on the device (for timing); nothing to wait for here."""

    def scatter_add(self, positions, values, size: int):
        """Sums of ``values`` per flat position in ``range(size)``, without waiting."""
        raise NotImplementedError

    @property
    def rng(self):
        """The generator of draws made on this device (``random(shape, dtype)``)."""
        raise NotImplementedError

    def rng_state(self):
        """The generator's state, for checkpoints."""
        raise NotImplementedError

    def set_rng_state(self, state) -> None:
        """Restore :meth:`rng_state`; None forgets the generator (the next draw starts from
        the library's seed)."""
        raise NotImplementedError

    def free_memory_bytes(self) -> int | None:
        """Bytes of the device's own memory free now, for refusing work that cannot fit;
        None where the device has no memory of its own (the host's is the system's)."""
        return None

    def versions(self) -> dict:
        """What ``tinygrad-cnn info`` shows of the software under the device, as
        ``{label: text}`` (never raises); nothing by default."""
        return {}
