"""The picture of one training step: :func:`draw_training_step`, behind
``tinygrad-cnn graph`` and ``examples/draw_graph.py`` (the LeNet-5 pictures in ``docs/``).

It builds the model and a random batch, runs forward, the cross-entropy loss and (if
asked) backward, and hands the loss to :func:`~.graph.make_dot`.
"""

from __future__ import annotations

import graphviz
import numpy as np

from .. import backend
from ..tensor import Tensor
from .gradstats import record_grad_stats
from .graph import make_dot


def draw_training_step(model="lenet5", batch_size=4, *, collapse=False, grads=False,
                       input_shape=(1, 28, 28), seed=0, **options) -> graphviz.Digraph:
    """The graph of one training step: forward, cross-entropy loss, optionally backward.

    Parameters
    ----------
    model : Module or str
        A model, or a name from ``models`` ("lenet5"), built with ``seed``.
    batch_size : int
        Rows of the random input batch (values in [0, 1), random class targets).
    collapse, options
        Passed to :func:`make_dot` (``collapse=True`` gives the layer picture).
    grads : bool
        Also run ``backward()`` inside :func:`record_grad_stats` and show the
        gradient statistics. This fills ``.grad`` of the model's parameters (zeroed first).
    input_shape : tuple
        One sample's shape, without the batch axis.
    seed : int
        Seeds the data (and the weights of a model built from a name); the library's
        global random state is left as it was.
    """
    loss, model = run_training_step(model, batch_size, grads=grads,
                                    input_shape=input_shape, seed=seed)
    options.setdefault("title", f"{type(model).__name__}: one training step, batch of "
                                f"{batch_size}")
    return make_dot(loss, model, collapse=collapse, show_grads=grads, **options)


def run_training_step(model="lenet5", batch_size=4, *, grads=False, input_shape=(1, 28, 28),
                      seed=0):
    """Run the step :func:`draw_training_step` draws (arguments as there) and return
    ``(loss, model)``: the graph's root and the model that names its parameters, for the
    static drawing and the explorer (:func:`~.explorer.explore_training_step`) alike."""
    from .. import models  # viz sits beside the CLI, above models in the import order
    from ..nn import functional as F

    state = backend.get_state()
    try:
        if isinstance(model, str):
            key = model.strip().lower().replace("-", "").replace("_", "")
            factories = {"lenet5": models.LeNet5, "lenet": models.LeNet5}
            if key not in factories:
                raise ValueError(f"draw_training_step: unknown model {model!r}; "
                                 f"known: lenet5")
            backend.manual_seed(seed)
            model = factories[key]()
        params = list(model.parameters())
        device = params[0].device if params else backend.default_device()
        rng = np.random.default_rng(seed)
        x = Tensor(rng.random((batch_size, *input_shape), dtype=np.float32), device=device)
        logits = model(x)
        target = Tensor(rng.integers(0, logits.shape[-1], size=batch_size), device=device)
        loss = F.cross_entropy(logits, target)
        if grads:
            model.zero_grad()
            with record_grad_stats():
                loss.backward()
    finally:
        backend.set_state(state)
    return loss, model
