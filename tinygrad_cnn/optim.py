"""Optimizers with PyTorch's exact update rules: ``SGD`` and ``Adam``.

``step()`` updates each parameter's ``.data`` in place on its own device, and skips
parameters whose ``grad`` is ``None``. The update rules are plain functions of arrays
(:func:`sgd_update`, :func:`adam_update`), to read beside PyTorch's documentation.

State dict format (PyTorch's layout, NumPy arrays on the host, so ``tg.save`` can write it)::

    {"state": {0: {"momentum_buffer": array}, ...},        # SGD with momentum
               {0: {"step": 3, "exp_avg": array, "exp_avg_sq": array}, ...},  # Adam
     "param_groups": [{"lr": 0.01, "momentum": 0.9, ..., "params": [0, 1, 2]}]}

Parameters are keyed by their index across all groups in order, so a state dict loads
into an optimizer built over the same parameters in the same order.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import backend
from .checks import real_number
from .tensor import Tensor


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class Optimizer:
    """Holds parameter groups and per-parameter state; subclasses define ``step``.

    Parameters
    ----------
    params : iterable of Tensors, or of dicts ``{"params": [...], "lr": ...}``
        A generator such as ``model.parameters()`` is fine; it is read once.
    defaults : dict
        Hyperparameters for groups that do not set them.
    """

    def __init__(self, params, defaults: dict):
        if isinstance(params, Tensor):
            raise TypeError(
                "params must be an iterable of Tensors (e.g. model.parameters()), got a "
                "single Tensor; wrap it in a list"
            )
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict = {}
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add ``{"params": [...], **hyperparameters}``; missing settings take the defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("a parameter group must be a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        known = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"parameter {i} is a {type(p).__name__}, not a Tensor")
            if not p.requires_grad or not p.is_leaf:
                raise ValueError(
                    f"parameter {i} (shape {p.shape}) cannot be optimized: it must be a leaf "
                    f"tensor with requires_grad=True"
                )
            if id(p) in known:
                raise ValueError(f"parameter {i} (shape {p.shape}) appears more than once")
            known.add(id(p))
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        full = dict(self.defaults)
        full.update({k: v for k, v in group.items() if k != "params"})
        self._validate(full)
        full["params"] = params
        self.param_groups.append(full)

    def _validate(self, group: dict) -> None:
        lr = real_number(group["lr"], "lr")
        _check(lr >= 0.0, f"invalid learning rate {lr}: must be >= 0")
        wd = real_number(group["weight_decay"], "weight_decay")
        _check(wd >= 0.0, f"invalid weight_decay {wd}: must be >= 0")

    def _params(self):
        for group in self.param_groups:
            yield from group["params"]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``None``, PyTorch's default) or zero it."""
        for p in self._params():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _state_of(self, p) -> dict:
        """``p``'s state, its arrays moved to ``p``'s device if ``p`` has moved since (as
        PyTorch's ``load_state_dict`` casts state to its parameter)."""
        state = self.state.setdefault(p, {})
        for key, value in state.items():
            if hasattr(value, "shape") and backend.device_of(value) != p.device:
                state[key] = backend.move(value, p.device)
        return state

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict:
        """Hyperparameters and per-parameter state as host NumPy arrays (see module doc)."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {}
        for p in self._params():
            if p in self.state:
                state[index[id(p)]] = {
                    k: (np.array(backend.to_host(v)) if not isinstance(v, numbers.Number)
                        else v)
                    for k, v in self.state[p].items()
                }
        groups = []
        for group in self.param_groups:
            entry = {k: v for k, v in group.items() if k != "params"}
            entry["params"] = [index[id(p)] for p in group["params"]]
            groups.append(entry)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and state written by ``state_dict`` (or ``tg.load``).

        Arrays are copied to each parameter's device and floating dtype; keys of ``state``
        may be ints or their strings.
        """
        try:
            groups, saved_state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError(
                "not an optimizer state dict: expected keys 'state' and 'param_groups'"
            ) from None
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"state dict has {len(groups)} parameter groups, optimizer has "
                f"{len(self.param_groups)}"
            )
        for i, (saved, own) in enumerate(zip(groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(
                    f"parameter group {i}: state dict has {len(saved['params'])} parameters, "
                    f"optimizer has {len(own['params'])}"
                )
        params = list(self._params())
        new_state = {}
        for key, entry in saved_state.items():
            i = int(key)
            if not 0 <= i < len(params):
                raise ValueError(f"state dict has state for parameter {i}, optimizer has "
                                 f"{len(params)} parameters")
            p = params[i]
            new_state[p] = {k: self._restore(v, p, i, k) for k, v in entry.items()}
        candidates = []
        for saved, own in zip(groups, self.param_groups, strict=True):
            candidate = dict(own)
            candidate.update({k: v for k, v in saved.items() if k != "params"})
            if "betas" in candidate:
                candidate["betas"] = tuple(candidate["betas"])
            self._validate(candidate)
            candidates.append(candidate)
        for own, candidate in zip(self.param_groups, candidates, strict=True):
            own.update(candidate)  # only now: a bad state dict changes nothing
        self.state = new_state

    @staticmethod
    def _restore(value, p, index, name):
        if isinstance(value, Tensor):
            value = value.data
        if isinstance(value, numbers.Number):
            return value
        host = np.asarray(backend.to_host(value))
        if host.ndim == 0:
            return host.item()
        if host.shape != p.shape:
            raise ValueError(
                f"state '{name}' of parameter {index} has shape {host.shape}, but the "
                f"parameter has shape {p.shape}"
            )
        return backend.move(host.astype(p.dtype, copy=True), p.device)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in group.items() if k != "params"]
        return "\n".join(lines) + "\n)"


def sgd_update(w, g, state: dict, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False) -> None:
    """One SGD step on arrays, ``w`` updated in place; ``state`` holds the momentum buffer.

    PyTorch's rule: ``d = g + weight_decay * w``; with momentum ``b = d`` on the first step,
    then ``b = momentum * b + (1 - dampening) * d``, and ``d = d + momentum * b``
    (Nesterov) or ``d = b``; finally ``w -= lr * d``.
    """
    d = g if weight_decay == 0 else g + weight_decay * w
    if momentum != 0:
        b = state.get("momentum_buffer")
        if b is None:
            b = state["momentum_buffer"] = d.copy()
        else:
            b *= momentum
            b += d if dampening == 0 else (1.0 - dampening) * d
        d = d + momentum * b if nesterov else b
    w -= lr * d


def adam_update(w, g, state: dict, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                xp=np) -> None:
    """One Adam step on arrays, ``w`` updated in place; ``state`` holds ``step``,
    ``exp_avg`` (m) and ``exp_avg_sq`` (v), created on the first call.

    PyTorch's arithmetic, in its order: ``g += weight_decay * w``;
    ``m += (1 - beta1) * (g - m)``; ``v = beta2 * v + (1 - beta2) * g * g``;
    ``w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``.
    """
    beta1, beta2 = betas
    if not state:
        state.update(step=0, exp_avg=xp.zeros_like(w), exp_avg_sq=xp.zeros_like(w))
    state["step"] += 1
    t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
    if weight_decay != 0:
        g = g + weight_decay * w
    m += (g - m) * (1.0 - beta1)
    v *= beta2
    v += g * (1.0 - beta2) * g
    denom = xp.sqrt(v) / math.sqrt(1.0 - beta2**t) + eps
    w -= m / denom * (lr / (1.0 - beta1**t))


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov and weight decay, with
    PyTorch's update rule (:func:`sgd_update`)."""

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=bool(nesterov))
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        momentum = real_number(group["momentum"], "momentum")
        _check(momentum >= 0.0, f"invalid momentum {momentum}: must be >= 0")
        real_number(group["dampening"], "dampening")
        if group["nesterov"]:
            _check(momentum > 0 and group["dampening"] == 0,
                   "nesterov momentum needs momentum > 0 and dampening = 0")

    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    sgd_update(p.data, p.grad.data, self._state_of(p), group["lr"],
                               group["momentum"], group["dampening"], group["weight_decay"],
                               group["nesterov"])
                    p.version += 1


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's arithmetic (:func:`adam_update`) and L2 weight
    decay added to the gradient."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        eps = real_number(group["eps"], "eps")
        _check(eps >= 0.0, f"invalid eps {eps}: must be >= 0")
        betas = group["betas"]
        _check(len(betas) == 2, f"betas must be a pair, got {betas!r}")
        for i, beta in enumerate(betas):
            beta = real_number(beta, f"betas[{i}]")
            _check(0.0 <= beta < 1.0, f"invalid betas[{i}] {beta}: must be in [0, 1)")

    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    adam_update(p.data, p.grad.data, self._state_of(p), group["lr"],
                                group["betas"], group["eps"], group["weight_decay"],
                                backend.array_module(p.device))
                    p.version += 1


class CosineAnnealingLR:
    """Anneal each group's learning rate from its initial value to ``eta_min`` along half a
    cosine over ``T_max`` calls of :meth:`step` (PyTorch's closed form, no restarts).

    A decaying rate lets the last epochs settle into a minimum instead of bouncing around
    it, which makes the final accuracy of short runs far less dependent on luck. Past
    ``T_max`` the rate stays at ``eta_min`` (PyTorch's would climb back up).
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        _check(int(T_max) == T_max and T_max > 0, f"T_max must be a positive integer, got {T_max}")
        self.optimizer = optimizer
        self.T_max = int(T_max)
        self.eta_min = real_number(eta_min, "eta_min")
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def get_lr(self) -> list[float]:
        t = min(self.last_epoch, self.T_max)
        factor = (1 + math.cos(math.pi * t / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * factor for base in self.base_lrs]

    def _apply(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr

    def step(self) -> None:
        self.last_epoch += 1
        self._apply()

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "T_max": self.T_max, "eta_min": self.eta_min,
                "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.T_max = int(state["T_max"])
        self.eta_min = float(state["eta_min"])
        self.base_lrs = [float(v) for v in state["base_lrs"]]
        self._apply()
