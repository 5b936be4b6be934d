"""The same model in PyTorch, both ways: :func:`to_torch` and :func:`from_torch`, for the
layers both libraries have.

The weights already agree: this package keeps PyTorch's layouts (``(out, in, kh, kw)``
convolution weights, ``(out, in)`` linear weights) and its state-dict names, so a
conversion is a table of layer pairs (:data:`PAIRS`) and a copy of arrays. Containers
convert child by child and keep the children's names. ``LeNet5`` runs its children in
order, so in PyTorch it is a ``torch.nn.Sequential`` with the same names
(``conv1`` ... ``fc3``), whose state dict is LeNet5's; such a Sequential comes back as a
``LeNet5``. Other models with a ``forward`` of their own have no automatic translation:
go through ONNX (``torch.onnx.export`` then :func:`tinygrad_cnn.onnx.load`).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import nn
from ..models import LeNet5
from .requirements import UnsupportedOpError, require


def _pool_args(layer) -> dict:
    return dict(kernel_size=layer.kernel_size, stride=layer.stride, padding=layer.padding)


def _settings(layer, tnn):
    """Per engine layer: the torch class and its constructor's keyword arguments."""
    if isinstance(layer, nn.Conv2d):
        return tnn.Conv2d, dict(in_channels=layer.in_channels, out_channels=layer.out_channels,
                                kernel_size=layer.kernel_size, stride=layer.stride,
                                padding=layer.padding, bias=layer.bias is not None)
    if isinstance(layer, nn.Linear):
        return tnn.Linear, dict(in_features=layer.in_features, out_features=layer.out_features,
                                bias=layer.bias is not None)
    if isinstance(layer, nn.MaxPool2d):
        return tnn.MaxPool2d, _pool_args(layer)
    if isinstance(layer, nn.AvgPool2d):
        return tnn.AvgPool2d, _pool_args(layer)
    if isinstance(layer, nn.LeakyReLU):
        return tnn.LeakyReLU, dict(negative_slope=layer.negative_slope)
    if isinstance(layer, nn.Flatten):
        return tnn.Flatten, dict(start_dim=layer.start_axis)
    if isinstance(layer, nn.Dropout):
        return tnn.Dropout, dict(p=layer.p)
    for ours, theirs in ((nn.ReLU, tnn.ReLU), (nn.Sigmoid, tnn.Sigmoid), (nn.Tanh, tnn.Tanh)):
        if type(layer) is ours:
            return theirs, {}
    return None, None


def _engine_layer(layer, tnn):
    """The engine layer for one torch layer, or None when there is none."""
    if type(layer) is tnn.Conv2d:
        if layer.groups != 1 or layer.dilation != (1, 1) or layer.padding_mode != "zeros" \
                or isinstance(layer.padding, str):
            return None
        return nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                         stride=layer.stride, padding=layer.padding, bias=layer.bias is not None)
    if type(layer) is tnn.Linear:
        return nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    if type(layer) in (tnn.MaxPool2d, tnn.AvgPool2d):
        if layer.ceil_mode or getattr(layer, "dilation", 1) not in (1, (1, 1)) \
                or not getattr(layer, "count_include_pad", True) \
                or getattr(layer, "return_indices", False) \
                or getattr(layer, "divisor_override", None):
            return None
        kind = nn.MaxPool2d if type(layer) is tnn.MaxPool2d else nn.AvgPool2d
        return kind(layer.kernel_size, layer.stride, layer.padding)
    if type(layer) is tnn.LeakyReLU:
        return nn.LeakyReLU(layer.negative_slope)
    if type(layer) is tnn.Flatten:
        return nn.Flatten(layer.start_dim) if layer.end_dim == -1 else None
    if type(layer) is tnn.Dropout:
        return nn.Dropout(layer.p)
    plain = {tnn.ReLU: nn.ReLU, tnn.Sigmoid: nn.Sigmoid, tnn.Tanh: nn.Tanh}
    return plain[type(layer)]() if type(layer) in plain else None


def _supported_text() -> str:
    return ("Conv2d, Linear, MaxPool2d, AvgPool2d, ReLU, LeakyReLU, Sigmoid, Tanh, Flatten, "
            "Dropout, Sequential, LeNet5")


def _convert_to_torch(module, torch, where: str):
    tnn = torch.nn
    if isinstance(module, (nn.Sequential, LeNet5)):
        # LeNet5's forward is its children in order (and a check of the input's shape)
        twin = tnn.Sequential(OrderedDict(
            (name, _convert_to_torch(child, torch, f"{where}.{name}" if where else name))
            for name, child in module.named_children()))
        twin.training = module.training  # its own mode; the children keep theirs
        return twin
    module_class, kwargs = _settings(module, tnn)
    if module_class is None:
        raise UnsupportedOpError(
            f"to_torch: {where or 'the model'} is a {type(module).__name__}, which has no "
            f"PyTorch counterpart here (supported: {_supported_text()}); export it with "
            f"tinygrad_cnn.onnx.export instead")
    twin = module_class(**kwargs)
    with torch.no_grad():
        for name, value in module.state_dict().items():
            getattr(twin, name).copy_(torch.from_numpy(np.array(value)))
    return twin.train(module.training)


def to_torch(module):
    """A ``torch.nn.Module`` computing what ``module`` computes, with copies of its weights.

    ``LeNet5`` and ``Sequential`` become ``torch.nn.Sequential`` with the same child names
    (so the state dicts have the same keys); layers become their PyTorch namesakes with
    the same settings. The training mode is kept.

    Raises
    ------
    UnsupportedOpError
        For a layer with no PyTorch counterpart here, naming it and where it sits.
    MissingDependencyError
        ``torch`` is not installed.
    """
    torch = require("torch")
    return _convert_to_torch(module, torch, "")


def _convert_from_torch(module, torch, where: str):
    tnn = torch.nn
    if isinstance(module, tnn.Sequential):
        children = OrderedDict(
            (name, _convert_from_torch(child, torch, f"{where}.{name}" if where else name))
            for name, child in module.named_children())
        ours = _as_lenet(children)
        ours = nn.Sequential(children) if ours is None else ours
        object.__setattr__(ours, "training", module.training)  # the children keep theirs
        return ours
    layer = _engine_layer(module, tnn)
    if layer is None:
        raise UnsupportedOpError(
            f"from_torch: {where or 'the model'} is a {type(module).__name__}"
            f"{'' if type(module).__module__.startswith('torch.') else ' (its own forward)'}"
            f" with no counterpart here (supported: {_supported_text()} and these settings "
            f"of them); export it with torch.onnx.export and read it with "
            f"tinygrad_cnn.onnx.load instead")
    state = {name: value.detach().cpu().numpy() for name, value in module.state_dict().items()}
    layer.load_state_dict(state)
    return layer.train(module.training)


def _as_lenet(children: OrderedDict):
    """A ``LeNet5`` holding ``children`` when they are exactly its layers, else None."""
    fc3 = children.get("fc3")
    if not isinstance(fc3, nn.Linear):
        return None
    lenet = LeNet5(num_classes=fc3.out_features)
    ours = OrderedDict(lenet.named_children())
    if list(ours) != list(children) or any(repr(ours[k]) != repr(children[k]) for k in ours):
        return None
    lenet.load_state_dict(nn.Sequential(children).state_dict())
    return lenet


def from_torch(module):
    """The engine's model for a ``torch.nn.Module`` built of the layers both have.

    Layers become their namesakes here (weights copied, on the default device); a
    ``torch.nn.Sequential`` becomes a ``Sequential`` with the same child names, or a
    ``LeNet5`` when its children are exactly LeNet5's (as :func:`to_torch` makes them).

    Raises
    ------
    UnsupportedOpError
        A module with no counterpart here (a layer, a setting such as ``groups=2``, or a
        model with a ``forward`` of its own), naming it and where it sits.
    MissingDependencyError
        ``torch`` is not installed.
    """
    torch = require("torch")
    return _convert_from_torch(module, torch, "")
