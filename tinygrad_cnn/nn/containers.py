"""The containers: ``Sequential`` (modules applied in order) and ``ModuleList``.

Both register their items as children named ``"0"``, ``"1"``, ..., so parameters, state
dicts and drawings name them by position (``features.0.weight``), as PyTorch's do.
"""

from __future__ import annotations

from collections import OrderedDict

from .module import Module


class _Sequence(Module):
    """Children registered as ``"0"``, ``"1"``, ... in order: what ``Sequential`` and
    ``ModuleList`` share."""

    def append(self, module: Module):
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: item '{len(self._modules)}' is a "
                            f"{type(module).__name__}, not a Module")
        setattr(self, str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return self._of(modules[index])  # a new container sharing the modules
        try:
            return modules[index]
        except IndexError:
            raise IndexError(f"{type(self).__name__} index {index} out of range for "
                             f"{len(modules)} modules") from None


class Sequential(_Sequence):
    """Modules applied one after another; children are named ``"0"``, ``"1"``, ...

    Supports ``len``, iteration and indexing (an int gives a module, a slice a new
    ``Sequential`` sharing the modules). An ordered dict names the children instead.
    """

    def __init__(self, *modules: Module):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (OrderedDict, dict)):
            for name, module in modules[0].items():
                if not isinstance(module, Module):
                    raise TypeError(f"Sequential: item '{name}' is a "
                                    f"{type(module).__name__}, not a Module")
                setattr(self, name, module)
        else:
            for module in modules:
                self.append(module)

    @staticmethod
    def _of(modules):
        return Sequential(*modules)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class ModuleList(_Sequence):
    """A list of modules, registered as children ``"0"``, ``"1"``, ...; no ``forward``."""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    @staticmethod
    def _of(modules):
        return ModuleList(modules)
