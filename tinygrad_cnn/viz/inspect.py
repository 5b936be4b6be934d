"""Look inside a model: the matrix a convolution multiplies by, receptive fields, activations.

Three tools for seeing what a convolutional network computes, built on the public API
only (``nn.functional``, autograd and :meth:`~tinygrad_cnn.nn.Module.register_forward_hook`):

- :func:`conv_matrix`: the dense matrix ``M`` with ``conv(x) == M @ x`` for one sample;
- :func:`receptive_field` and :func:`receptive_field_mask`: the input region that can
  reach one unit of a layer, measured with autograd; :func:`input_gradient`: the region
  that does reach it for a given input;
- :func:`activations`: the output of every named submodule for one forward pass.
"""

from __future__ import annotations

import numbers
from collections import OrderedDict

import numpy as np

from .. import autograd, backend
from .. import nn as _nn
from ..checks import int_tuple, is_int
from ..nn import functional as F
from ..tensor import Tensor

__all__ = ["activations", "conv_matrix", "input_gradient", "receptive_field",
           "receptive_field_mask"]


# ----------------------------------------------------------------------------- conv_matrix

def conv_matrix(weight, input_shape, stride=1, padding=0) -> np.ndarray:
    """The dense matrix of a 1-D or 2-D convolution, as ``conv1d`` / ``conv2d`` compute it.

    Deep-learning "convolution" is a cross-correlation, so in 1-D with one channel,
    stride 1 and padding ``p``, ``M[t, tau] = w[tau - t + p]`` (zero outside the kernel).
    The true convolution ``W[t, tau] = w[t - tau]`` is the matrix of the flipped kernel.

    Parameters
    ----------
    weight : Tensor or array_like
        ``(K,)`` or ``(KH, KW)`` for one input and one output channel, or a full
        ``conv1d`` weight ``(out_channels, in_channels, K)`` or ``conv2d`` weight
        ``(out_channels, in_channels, KH, KW)``.
    input_shape : tuple of int
        One sample without the batch axis: ``(L,)`` or ``(C, L)`` in 1-D, ``(H, W)`` or
        ``(C, H, W)`` in 2-D.
    stride, padding : int or tuple of int
        As in ``conv1d`` / ``conv2d``; zero padding adds no columns (it contributes 0).

    Returns
    -------
    numpy.ndarray, shape (out_channels * output size, in_channels * input size)
        Rows are the output flattened in C order ``(out_channel, [row,] column)``, columns
        the input flattened as ``(in_channel, [row,] column)``, so that
        ``conv2d(x, w)[n].reshape(-1) == M @ x[n].reshape(-1)`` for every sample ``n``.
        Its dtype is the weight's (float64 for integer weights).
    """
    w = weight.numpy() if isinstance(weight, Tensor) else np.asarray(backend.to_host(weight))
    if w.dtype.kind not in "biuf":
        raise TypeError(f"conv_matrix: weight must hold numbers, got dtype {w.dtype}")
    if w.dtype.kind != "f":
        w = w.astype(np.float64)
    if w.ndim not in (1, 2, 3, 4):
        raise ValueError(f"conv_matrix: weight must be (K,), (KH, KW), (out, in, K) or "
                         f"(out, in, KH, KW), got shape {w.shape}")
    if w.ndim <= 2:
        w = w.reshape((1, 1) + w.shape)
    spatial = w.ndim - 2
    n_out, n_in, kernel = w.shape[0], w.shape[1], w.shape[2:]
    input_shape = _int_tuple(input_shape, "input_shape")
    layout = "(L,) or (C, L)" if spatial == 1 else "(H, W) or (C, H, W)"
    if len(input_shape) == spatial:
        input_shape = (1,) + input_shape
    if len(input_shape) != spatial + 1:
        raise ValueError(f"conv_matrix: a {spatial}-D kernel (weight shape {w.shape}) needs "
                         f"input_shape {layout}, got {input_shape}")
    if input_shape[0] != n_in:
        raise ValueError(f"conv_matrix: input has {input_shape[0]} channels but weight "
                         f"expects {n_in} (weight shape {w.shape})")
    stride = int_tuple(stride, spatial, "stride", "conv_matrix", 1)
    padding = int_tuple(padding, spatial, "padding", "conv_matrix", 0)
    size = input_shape[1:]
    out_size = tuple((n + 2 * p - k) // s + 1
                     for n, p, k, s in zip(size, padding, kernel, stride))
    if any(o < 1 for o in out_size):
        raise ValueError(f"conv_matrix: kernel {kernel} is larger than the padded input "
                         f"(input {size}, padding {padding})")
    if spatial == 1:  # a height-1 image and a height-1 kernel
        w = w[:, :, None, :]
        size, out_size, kernel = (1,) + size, (1,) + out_size, (1,) + kernel
        stride, padding = (1,) + stride, (0,) + padding
    (H, W), (OH, OW), (KH, KW) = size, out_size, kernel
    # every (output position, kernel offset) pair and the input pixel it reads: (OH, OW, KH, KW)
    oh, ow, kh, kw = np.meshgrid(np.arange(OH), np.arange(OW), np.arange(KH), np.arange(KW),
                                 indexing="ij")
    ih = oh * stride[0] - padding[0] + kh
    iw = ow * stride[1] - padding[1] + kw
    inside = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)   # padding reads zeros: no entry
    oh, ow, kh, kw, ih, iw = (a[inside] for a in (oh, ow, kh, kw, ih, iw))
    matrix = np.zeros((n_out, OH, OW, n_in, H, W), dtype=w.dtype)
    # one kernel offset per (output, input pixel) pair, so plain assignment places each
    # weight once; the advanced indices come first in the result: (pairs, out, in)
    matrix[:, oh, ow, :, ih, iw] = w[:, :, kh, kw].transpose(2, 0, 1)
    return matrix.reshape(n_out * OH * OW, n_in * H * W)


def _int_tuple(value, name) -> tuple:
    try:
        items = tuple(value)
    except TypeError:
        items = None
    if not items or not all(is_int(v) and v >= 1 for v in items):
        raise ValueError(f"{name} must be a tuple of positive ints, got {value!r}")
    return tuple(int(v) for v in items)


# ----------------------------------------------------------------------------- layers by name

def _layer(model, layer_name, caller):
    if not isinstance(model, _nn.Module):
        raise TypeError(f"{caller}: model must be an nn.Module, got {type(model).__name__}")
    layers = OrderedDict((name, m) for name, m in model.named_modules() if name)
    if layer_name not in layers:
        valid = ", ".join(repr(name) for name in layers) or "none (the model has no submodules)"
        raise ValueError(f"{caller}: {type(model).__name__} has no layer named "
                         f"{layer_name!r}; valid names: {valid}")
    return layers[layer_name]


def _run_capturing(model, layer, layer_name, x, caller):
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


def _unit_output(output, unit, channel, caller):
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


class _Frozen:
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


def _device_of(model) -> str:
    return next((p.device for p in model.parameters()), backend.default_device())


def _need_grad_mode(caller):
    if not autograd.is_grad_enabled():
        raise RuntimeError(f"{caller} measures with autograd; call it outside no_grad()")


# ----------------------------------------------------------------------------- receptive field

def _linear_stand_in(module, inputs, output):
    """Forward hook: the output of a positive, linear copy of ``module`` (see
    :func:`receptive_field_mask`), or ``None`` for modules kept as they are."""
    x = inputs[0]
    if isinstance(module, (_nn.ReLU, _nn.Sigmoid, _nn.Tanh)):
        return x
    if isinstance(module, _nn.MaxPool2d):
        return F.avg_pool2d(x, module.kernel_size, module.stride, module.padding)
    if isinstance(module, _nn.Conv2d):
        weight = Tensor(abs(module.weight.data), dtype=x.dtype, device=x.device)
        return F.conv2d(x, weight, None, stride=module.stride, padding=module.padding)
    if isinstance(module, _nn.Linear):
        weight = Tensor(abs(module.weight.data), dtype=x.dtype, device=x.device)
        return F.linear(x, weight)
    return None


def receptive_field_mask(model, layer_name: str, input_shape, unit=None, channel=None,
                         samples: int = 16) -> np.ndarray:
    """The input pixels that can reach one unit of a layer, measured with autograd.

    The mask is where the gradient of the unit with respect to the input is nonzero, but
    not in the model as it is: there max pooling sends each window's gradient to a single
    winner and a ReLU whose input is negative passes none, so one input would show only
    part of the field. Forward hooks (:meth:`~tinygrad_cnn.nn.Module.register_forward_hook`)
    replace, for the measurement only, every ``ReLU``, ``Sigmoid`` and ``Tanh`` by the
    identity, every ``MaxPool2d`` by the average over the same windows, and every
    ``Conv2d`` and ``Linear`` by the same layer with ``|weight|`` and no bias. Each
    layer's gradient then reaches every input of every window with a positive weight and
    no two paths cancel. The gradient is taken on ``samples`` random positive inputs, and
    the mask is the union, so that operations inside a custom ``forward`` that the hooks do
    not replace (a functional max pool, say) are also seen with several winners.

    Parameters
    ----------
    model : nn.Module
        Called on tensors ``(samples, C, H, W)``; left in its mode, with its gradients.
    layer_name : str
        A name from ``model.named_modules()``, e.g. ``"conv2"`` or ``"features.3"``.
    input_shape : tuple of int
        One input ``(C, H, W)``; a leading batch size ``(N, C, H, W)`` is ignored.
    unit : tuple of int or int, optional
        The unit's spatial position in the layer's output, the centre by default. For a
        layer with vector output ``(N, F)``, a feature index, or all features.
    channel : int, optional
        The unit's channel; by default all channels at that position together (in a
        convolution they all see the same region).
    samples : int
        How many random inputs to take the union over.

    Returns
    -------
    numpy.ndarray of bool, shape (H, W)
    """
    caller = "receptive_field"
    _need_grad_mode(caller)
    layer = _layer(model, layer_name, caller)
    shape = _int_tuple(input_shape, "receptive_field: input_shape")
    if len(shape) == 4:
        shape = shape[1:]
    if len(shape) != 3:
        raise ValueError(f"receptive_field: input_shape must be (C, H, W) or (N, C, H, W), "
                         f"got {tuple(input_shape)}")
    if not is_int(samples) or samples < 1:
        raise ValueError(f"receptive_field: samples must be a positive int, got {samples!r}")
    rng = np.random.default_rng(0)  # private: the library's seeded stream is left alone
    values = rng.uniform(0.5, 1.5, size=(samples,) + shape).astype(np.float32)
    x = Tensor(values, requires_grad=True, device=_device_of(model))
    stand_ins = [m.register_forward_hook(_linear_stand_in) for m in model.modules()]
    try:
        with _Frozen(model):
            output = _run_capturing(model, layer, layer_name, x, caller)
            _unit_output(output, unit, channel, caller).backward()
    finally:
        for handle in stand_ins:
            handle.remove()
    if x.grad is None:
        return np.zeros(shape[1:], dtype=bool)
    return (x.grad.numpy() != 0).any(axis=(0, 1))


def receptive_field(model, layer_name: str, input_shape, unit=None,
                    channel=None) -> tuple[int, int]:
    """The size ``(height, width)`` of the input region that can reach one unit of a layer.

    Measured with autograd, not computed from the layers' settings: the bounding box of
    :func:`receptive_field_mask` (see there for how max pooling and ReLU are kept from
    hiding part of the field). The default unit is the centre of the layer's output, so
    zero padding at the border does not clip the field unless it covers the whole input.

    Examples
    --------
    LeNet-5's fields grow from 5 to 16 pixels: a 5x5 kernel (5), a 2x2 pool of stride 2
    (5 + 1 = 6), a 5x5 kernel on a grid of step 2 (6 + 4 * 2 = 14), a second pool
    (14 + 1 * 2 = 16).

    >>> from tinygrad_cnn.models import LeNet5
    >>> [receptive_field(LeNet5(), name, (1, 28, 28))
    ...  for name in ("conv1", "pool1", "conv2", "pool2")]
    [(5, 5), (6, 6), (14, 14), (16, 16)]
    """
    mask = receptive_field_mask(model, layer_name, input_shape, unit, channel)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return (0, 0)
    return (int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1))


def input_gradient(model, layer_name: str, x, unit=None, channel=None) -> np.ndarray:
    """The gradient of one unit of a layer with respect to the input ``x``, as it is.

    Unlike :func:`receptive_field_mask`, nothing is replaced: a max pool passes the
    gradient of each window to its winner only and an inactive ReLU passes none, so the
    nonzero entries show the part of the receptive field that reaches the unit *for this
    input*. ``unit`` and ``channel`` pick the unit as in :func:`receptive_field_mask`; the
    unit is summed over the batch, so each sample's slice of the result is that sample's
    own gradient. The model runs in evaluation mode and its parameters' ``.grad`` are left
    untouched.

    Parameters
    ----------
    model : nn.Module
    layer_name : str
        A name from ``model.named_modules()``.
    x : Tensor or array_like
        The model's input, e.g. ``(N, C, H, W)``; an array goes to the model's device.
    unit, channel : optional
        See :func:`receptive_field_mask`.

    Returns
    -------
    numpy.ndarray, the shape of ``x``
    """
    caller = "input_gradient"
    _need_grad_mode(caller)
    layer = _layer(model, layer_name, caller)
    if not isinstance(x, Tensor):
        x = Tensor(x, device=_device_of(model))  # an array goes where the model is
    x = x.detach().requires_grad_(True)
    with _Frozen(model):
        output = _run_capturing(model, layer, layer_name, x, caller)
        _unit_output(output, unit, channel, caller).backward()
    return x.grad.numpy() if x.grad is not None else np.zeros(x.shape, dtype=x.dtype)


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
