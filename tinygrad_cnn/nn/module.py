"""``Parameter`` and ``Module``: the machinery every layer and model shares.

A ``Module`` registers its parameters, buffers and submodules when they are assigned as
attributes, so ``named_parameters()``, ``state_dict()``, ``to()`` and ``train()`` can walk
the tree without the user listing anything. Calling a module runs its ``forward`` inside
the path of running modules (:mod:`tinygrad_cnn.nn.hooks`), then its forward hooks. The
containers ``Sequential`` and ``ModuleList`` are in :mod:`tinygrad_cnn.nn.containers`.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from .. import backend, display
from ..tensor import Tensor
from . import hooks

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A Tensor that a ``Module`` registers as learnable; ``requires_grad`` is on by default.

    Parameters
    ----------
    data : Tensor, list or array
        Floating-point values. A Tensor's array (and its version) is shared, not copied (as
        in PyTorch); other data follows Tensor's dtype rule (float -> float32).
    requires_grad : bool
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        source = data if isinstance(data, Tensor) else Tensor(data)
        if source.dtype.kind != "f":
            raise TypeError(
                f"nn.Parameter needs floating-point data, got {source.dtype}"
            )
        self.data = source.data
        self.device = source.device
        self.grad = None
        self.grad_fn = None
        self.version_counter = source.version_counter
        self.requires_grad = False
        self.requires_grad_(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, assign parameters and submodules as
    attributes, and define ``forward``. Calling the module runs ``forward`` inside a module
    scope (see the module docstring) so graph drawings can group ops by layer.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_scope_name", "")
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        registries = self.__dict__.get("_parameters")
        if registries is None and isinstance(value, (Parameter, Module)):
            raise AttributeError(
                f"cannot assign {type(value).__name__} '{name}' before "
                f"{type(self).__name__}.__init__ called super().__init__()"
            )
        if isinstance(value, Parameter):
            self._forget(name, keep=self._parameters)
            self._parameters[name] = value  # a reassigned name keeps its place
        elif isinstance(value, Module):
            self._forget(name, keep=self._modules)
            self._modules[name] = value
            if value._scope_name == "":
                object.__setattr__(value, "_scope_name", name)
        elif registries is not None and name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter '{name}' of "
                    f"{type(self).__name__} (nn.Parameter or None expected)"
                )
            self._parameters[name] = None
        elif registries is not None and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module '{name}' of "
                    f"{type(self).__name__} (nn.Module or None expected)"
                )
            self._modules[name] = None
        elif registries is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                value = Tensor(value)
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._forget(name)
        object.__delattr__(self, name)

    def _forget(self, name, keep=None):
        for registry in (self._parameters, self._modules, self._buffers):
            if registry is not keep:
                registry.pop(name, None)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or ``None``: a declared but absent parameter, e.g. no bias)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter('{name}'): expected nn.Parameter or None, "
                            f"got {type(param).__name__}")
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor) -> None:
        """Register non-learnable state (saved in ``state_dict``, moved by ``to``)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        self._forget(name, keep=self._buffers)
        self._buffers[name] = tensor
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module('{name}'): {type(module).__name__} is not a Module")
        if module is None:
            self._forget(name, keep=self._modules)
            self._modules[name] = None
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, module)

    # ------------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        path = hooks.running_modules.path  # this thread's, as `running` does
        path.append((self._scope_name, type(self).__name__))
        try:
            output = self.forward(*args, **kwargs)
            if self._forward_hooks:
                for hook in list(self._forward_hooks.values()):
                    result = hook(self, args, output)
                    if result is not None:
                        output = result
            return output
        finally:
            path.pop()

    def register_forward_hook(self, hook) -> hooks.RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every ``forward`` of this module.

        ``inputs`` is the tuple of positional arguments of the call. A hook that returns
        something other than ``None`` replaces the output (later hooks and the caller see
        the replacement), as in PyTorch. Hooks run in registration order, inside the
        module's scope, so ops they create are drawn as part of the module.

        Returns
        -------
        RemovableHandle
            ``handle.remove()`` unregisters the hook.
        """
        if not callable(hook):
            raise TypeError(f"register_forward_hook: hook must be callable, got "
                            f"{type(hook).__name__}")
        handle = hooks.RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix: str = "", remove_duplicate: bool = True):
        """Yield ``(dotted_name, module)`` for this module (name ``prefix``) and all below,
        depth first in registration order; a module reachable twice is listed once unless
        ``remove_duplicate`` is False."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate and id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{key}" if name else key, child)
                for key, child in module._modules.items() if child is not None
            ]
            stack.extend(reversed(children))

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix="", recurse=True, remove_duplicate=True):
        """``(dotted_name, tensor)`` from each module's ``registry`` (``"_parameters"`` or
        ``"_buffers"``): its own first, in registration order, then its children's, depth
        first (PyTorch's order); a tensor reachable twice is listed once, under its first
        name, unless ``remove_duplicate`` is False."""
        seen = set()
        modules = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for key, t in getattr(module, registry).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield (f"{module_name}.{key}" if module_name else key), t

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True):
        """Yield ``(dotted_name, parameter)``, e.g. ``("conv1.weight", ...)``."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def _named_state(self, remove_duplicate: bool = True):
        yield from self.named_parameters(remove_duplicate=remove_duplicate)
        yield from self.named_buffers(remove_duplicate=remove_duplicate)

    def apply(self, fn):
        """Call ``fn(module)`` on every module (children first), e.g. for custom init."""
        for module in reversed(list(self.modules())):
            fn(module)
        return self

    # ------------------------------------------------------------------ state
    def state_dict(self) -> OrderedDict:
        """``name -> NumPy array`` (a host copy) for every parameter and buffer; a shared
        parameter appears under each of its names, as in PyTorch."""
        out = OrderedDict()
        for name, t in self._named_state(remove_duplicate=False):
            host = backend.to_host(t.data)
            out[name] = host.copy() if host is t.data else host
        return out

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into the parameters and buffers, in place.

        Values may be NumPy arrays or Tensors; they are converted to each parameter's dtype
        and device and never aliased. Wrong shapes always raise; with ``strict`` missing or
        unexpected keys raise too, in one ``RuntimeError`` that lists every problem. Nothing
        is loaded when an error is raised. Returns ``(missing_keys, unexpected_keys)``.
        """
        own = OrderedDict(self._named_state(remove_duplicate=False))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        wrong_shape, bad_value, staged = [], [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value.data if isinstance(value, Tensor) else value
            try:
                host = np.asarray(backend.to_host(value))
            except Exception as exc:  # anything that is not array-like
                bad_value.append(f"'{key}': {type(value).__name__} ({exc})")
                continue
            if host.dtype.kind not in "biuf":
                bad_value.append(f"'{key}': values of dtype {host.dtype}")
            elif host.shape != target.shape:
                wrong_shape.append(
                    f"'{key}': state_dict has shape {host.shape}, model has {target.shape}"
                )
            else:
                staged.append((target, host))
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(f"'{k}'" for k in missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(f"'{k}'" for k in unexpected))
        if wrong_shape:
            problems.append("wrong shapes: " + "; ".join(wrong_shape))
        if bad_value:
            problems.append("not numeric arrays: " + "; ".join(bad_value))
        if problems:
            raise RuntimeError(
                f"error(s) in loading state_dict for {type(self).__name__}:\n  "
                + "\n  ".join(problems)
            )
        for target, host in staged:
            # in-place copy with a cast: the model never aliases the caller's arrays
            target.data[...] = backend.move(host.astype(target.dtype, copy=False),
                                            target.device)
            target.version += 1
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ modes and devices
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``Dropout`` active) on this module and all below it."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients (``None``, as PyTorch's default), or zero them in place."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.zero_()

    def _apply(self, fn) -> Module:
        """Replace the array of every parameter, buffer and gradient by ``fn(array)``, in
        place (the Tensor objects stay, so optimizers keep pointing at them)."""
        for _, t in self._named_state():
            for holder in (t, t.grad):
                if holder is None:
                    continue
                new = fn(holder.data)
                if new is not holder.data:
                    holder.data, holder.device = new, backend.device_of(new)
                    holder.version += 1
        return self

    def to(self, device) -> Module:
        """Move parameters, their gradients and buffers to ``device`` in place."""
        device = backend.parse_device(device)
        return self._apply(lambda array: backend.move(array, device))

    def double(self) -> Module:
        """Convert floating parameters and buffers to float64 in place (for gradchecks)."""
        return self._apply(lambda array: _as_float(array, np.float64))

    def float(self) -> Module:
        """Convert floating parameters and buffers to float32 in place."""
        return self._apply(lambda array: _as_float(array, np.float32))

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (layer settings)."""
        return ""

    def _repr_html_(self) -> str:  # Jupyter
        return display.module_html(self)

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()}"
        lines = []
        for name, child in self._modules.items():
            text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {text}")
        if not lines:
            return head + ")"
        extra = self.extra_repr()
        body = ([f"  {extra}"] if extra else []) + lines
        return f"{type(self).__name__}(\n" + "\n".join(body) + "\n)"


def _as_float(array, dtype):
    return array.astype(dtype) if array.dtype.kind == "f" and array.dtype != dtype else array
