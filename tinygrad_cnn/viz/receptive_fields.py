"""Receptive fields, measured with autograd: which input pixels can reach one unit of a
layer (:func:`receptive_field_mask`, :func:`receptive_field`), and which do reach it for
a given input (:func:`input_gradient`).

Measured, not computed from the layers' settings, so they hold for any model, also one
whose ``forward`` does something the settings do not say.
"""

from __future__ import annotations

import numpy as np

from .. import nn as _nn
from ..checks import is_int
from ..nn import functional as F
from ..tensor import Tensor
from .probing import (
    Frozen,
    device_of_model,
    layer_named,
    output_of_layer,
    require_grad_mode,
    shape_tuple,
    unit_output,
)


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
    require_grad_mode(caller)
    layer = layer_named(model, layer_name, caller)
    shape = shape_tuple(input_shape, "receptive_field: input_shape")
    if len(shape) == 4:
        shape = shape[1:]
    if len(shape) != 3:
        raise ValueError(f"receptive_field: input_shape must be (C, H, W) or (N, C, H, W), "
                         f"got {tuple(input_shape)}")
    if not is_int(samples) or samples < 1:
        raise ValueError(f"receptive_field: samples must be a positive int, got {samples!r}")
    rng = np.random.default_rng(0)  # private: the library's seeded stream is left alone
    values = rng.uniform(0.5, 1.5, size=(samples,) + shape).astype(np.float32)
    x = Tensor(values, requires_grad=True, device=device_of_model(model))
    stand_ins = [m.register_forward_hook(_linear_stand_in) for m in model.modules()]
    try:
        with Frozen(model):
            output = output_of_layer(model, layer, layer_name, x, caller)
            unit_output(output, unit, channel, caller).backward()
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
    require_grad_mode(caller)
    layer = layer_named(model, layer_name, caller)
    if not isinstance(x, Tensor):
        x = Tensor(x, device=device_of_model(model))  # an array goes where the model is
    x = x.detach().requires_grad_(True)
    with Frozen(model):
        output = output_of_layer(model, layer, layer_name, x, caller)
        unit_output(output, unit, channel, caller).backward()
    return x.grad.numpy() if x.grad is not None else np.zeros(x.shape, dtype=x.dtype)
