"""Running a model to see inside it: find a layer by name, catch what it outputs, pick
one unit of it, and :func:`activations`, the output of every layer at once.

The measurements of :mod:`.receptive_fields` are built on these. Everything goes through
the public API (:meth:`~tinygrad_cnn.nn.Module.register_forward_hook`, ``named_modules``),
and what a measurement changes on the model (its mode, its parameters' ``requires_grad``)
is put back afterwards (:class:`Frozen`).
"""

from __future__ import annotations

import numbers
from collections import OrderedDict

from .. import autograd, backend
from .. import nn as _nn
from ..checks import is_int
from ..tensor import Tensor


def shape_tuple(value, name) -> tuple:
    """A shape the caller gave, as a tuple of positive ints (the error names ``name``)."""
    try:
        items = tuple(value)
    except TypeError:
        items = None
    if not items or not all(is_int(v) and v >= 1 for v in items):
        raise ValueError(f"{name} must be a tuple of positive ints, got {value!r}")
    return tuple(int(v) for v in items)


# ----------------------------------------------------------------------------- one layer

def layer_named(model, layer_name, caller):
    """The submodule ``layer_name`` of ``model``; the error lists the valid names."""
    if not isinstance(model, _nn.Module):
        raise TypeError(f"{caller}: model must be an nn.Module, got {type(model).__name__}")
    layers = OrderedDict((name, m) for name, m in model.named_modules() if name)
    if layer_name not in layers:
        valid = ", ".join(repr(name) for name in layers) or "none (the model has no submodules)"
        raise ValueError(f"{caller}: {type(model).__name__} has no layer named "
                         f"{layer_name!r}; valid names: {valid}")
    return layers[layer_name]


def output_of_layer(model, layer, layer_name, x, caller):
    """Run ``model(x)`` and return the output of ``layer``'s last call."""
    captured = []
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        model(x)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{caller}: the model rejected an input of shape {x.shape}: "
                         f"{exc}") from exc
    finally:
        handle.remove()
    if not captured:
        raise ValueError(f"{caller}: layer '{layer_name}' did not run in the forward "
                         f"pass of {type(model).__name__}")
    output = captured[-1]
    if not isinstance(output, Tensor):
        raise TypeError(f"{caller}: the layer returned a {type(output).__name__}, not a Tensor")
    return output


def unit_output(output, unit, channel, caller):
    """The sum over the batch of one unit of ``output``: a spatial position in one channel
    (or all) for maps ``(N, C, ...)``, one feature (or all) for vectors ``(N, F)``."""
    if output.ndim == 2:
        if channel is not None:
            raise ValueError(f"{caller}: channel applies to maps (N, C, ...); this layer "
                             f"outputs vectors of shape {output.shape}, pick a feature "
                             f"with unit")
        if unit is None:
            return output.sum()
        if not is_int(unit) or not 0 <= unit < output.shape[1]:
            raise ValueError(f"{caller}: unit must be a feature index in [0, "
                             f"{output.shape[1]}) for a layer output of shape {output.shape}, "
                             f"got {unit!r}")
        return output[:, int(unit)].sum()
    if output.ndim < 3:
        raise ValueError(f"{caller}: the layer output has shape {output.shape}; expected "
                         f"(N, features) or (N, channels, ...)")
    spatial = output.shape[2:]
    if unit is None:
        unit = tuple(n // 2 for n in spatial)
    unit = tuple(unit) if not isinstance(unit, numbers.Integral) else (unit,)
    if len(unit) != len(spatial) or not all(is_int(i) and 0 <= i < n
                                            for i, n in zip(unit, spatial)):
        raise ValueError(f"{caller}: unit must be a position inside the layer's "
                         f"{'x'.join(map(str, spatial))} output (shape {output.shape}), "
                         f"got {unit!r}")
    if channel is not None and not (is_int(channel) and 0 <= channel < output.shape[1]):
        raise ValueError(f"{caller}: channel must be in [0, {output.shape[1]}) for a layer "
                         f"output of shape {output.shape}, got {channel!r}")
    channels = slice(None) if channel is None else slice(int(channel), int(channel) + 1)
    index = (slice(None), channels) + tuple(int(i) for i in unit)
    return output[index].sum()


class Frozen:
    """Evaluation mode and no parameter gradients for the duration, restored afterwards,
    so a measurement neither drops out units nor writes into the model's ``.grad``."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.flags = [(p, p.requires_grad) for p in self.model.parameters()]
        self.model.eval()
        for p, _ in self.flags:
            p.requires_grad = False
        return self

    def __exit__(self, *exc):
        for m, mode in self.modes:
            object.__setattr__(m, "training", mode)
        for p, flag in self.flags:
            p.requires_grad = flag
        return False


def device_of_model(model) -> str:
    """Where the model's parameters live (the default device for a model without any)."""
    return next((p.device for p in model.parameters()), backend.default_device())


def require_grad_mode(caller):
    """The measurements differentiate: refuse to run inside ``no_grad()``."""
    if not autograd.is_grad_enabled():
        raise RuntimeError(f"{caller} measures with autograd; call it outside no_grad()")


# ----------------------------------------------------------------------------- activations

def activations(model, x, grad: bool = False) -> OrderedDict:
    """The output of every named submodule for one forward pass ``model(x)``.

    Forward hooks record each submodule's output and are removed afterwards, also when the
    forward pass raises. The model's mode is left as it is (call ``model.eval()`` first
    for the outputs of inference).

    Parameters
    ----------
    model : nn.Module
    x : Tensor
        The model's input.
    grad : bool
        Record the graph, so that the activations can be differentiated; by default the
        pass runs under ``no_grad`` and keeps only the values.

    Returns
    -------
    OrderedDict
        ``name -> Tensor`` with the names of ``model.named_modules()`` (the model itself
        excluded), in the order the calls finished (a submodule before the container that
        called it). A module called several times appears as ``name``, ``name#2``, ...;
        modules that did not run are absent.
    """
    if not isinstance(model, _nn.Module):
        raise TypeError(f"activations: model must be an nn.Module, got {type(model).__name__}")
    recorded = OrderedDict()

    def recorder(name):
        def hook(module, inputs, output):
            key, calls = name, 1
            while key in recorded:
                calls += 1
                key = f"{name}#{calls}"
            recorded[key] = output
        return hook

    handles = [module.register_forward_hook(recorder(name))
               for name, module in model.named_modules() if name]
    try:
        if grad:
            model(x)
        else:
            with autograd.no_grad():
                model(x)
    finally:
        for handle in handles:
            handle.remove()
    return recorded
