"""The measurements behind lecture pages 11 to 14 and the no-pooling comparison of page 7.

The companion of ``claims.py`` (same data, same training, same rules: NumPy and
tinygrad_cnn only, every random draw seeded), kept apart so that neither file outgrows the
project's 400 lines. The scripts ``plot_11_*.py`` ... ``plot_14_*.py`` draw from these
functions and ``tests/test_lecture_pages.py`` asserts on them.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import tinygrad_cnn as tg
from tinygrad_cnn import Tensor
from tinygrad_cnn.models import LeNet5, LeNet5GAP, LeNet5Strided, fully_convolutional
from tinygrad_cnn.nn import functional as F

import claims

# ----------------------------------------------------------------------------- models

#: The lecture's other models, trained as ``claims.trained`` trains LeNet-5 and the MLP.
MORE_MODELS = {"LeNet-5 without pooling": LeNet5Strided, "LeNet-5, conv head + GAP": LeNet5GAP}


def standardised(images: np.ndarray) -> np.ndarray:
    """Images with MNIST's mean 0.1307 taken off and divided by its std 0.3081 (what the
    CLI trains on), instead of the lecture's [0, 1]."""
    return ((images - 0.1307) / 0.3081).astype(np.float32)


@functools.lru_cache(maxsize=8)
def trained(name: str, epochs: int = claims.EPOCHS, seed: int = 0, batch_size: int = 64,
            lr: float = 2e-3, standardise: bool = False):
    """A model of :data:`MORE_MODELS` or ``claims.MODELS`` trained on the 4,000 training
    digits exactly as :func:`claims.trained` trains them (on standardised digits if
    ``standardise``); cached. Treat the result as read-only."""
    if name in claims.MODELS and not standardise:
        return claims.trained(name, epochs, seed, batch_size=batch_size, lr=lr)
    images, labels = claims.digits(train=True)
    if standardise:
        images = standardised(images)
    tg.manual_seed(seed)
    build = MORE_MODELS.get(name) or claims.MODELS[name]
    return claims.train_classifier(build(), images, labels, epochs, seed, lr, batch_size)


def untrained(seed: int = 0) -> LeNet5:
    """LeNet-5 as initialised before training with ``seed`` (the same start as
    :func:`claims.trained`)."""
    tg.manual_seed(seed)
    return LeNet5().eval()


# ----------------------------------------------------------------------------- page 11

#: Bar orientations shown (degrees, 0 = horizontal, counter-clockwise), and the offsets
#: across the bar (pixels) among which each unit's best is taken.
ORIENTATIONS = np.arange(0, 180, 15)
OFFSETS = np.arange(-3.0, 3.5, 0.5)

#: The unit read in each map: its centre, and the pooled unit whose window holds it.
CENTRE = {"conv1": (14, 14), "relu1": (14, 14), "pool1": (7, 7), "conv2": (4, 4), "relu2": (4, 4),
          "pool2": (2, 2)}


def bar(angle: float, offset: float = 0.0, width: float = 2.0, size: int = 28) -> np.ndarray:
    """A bright bar across a dark (size x size) image, ``width`` pixels wide, at ``angle``
    degrees, passing ``offset`` pixels beside the centre; edges anti-aliased over one pixel.
    """
    theta = np.deg2rad(angle)
    rows, cols = np.mgrid[0:size, 0:size] - (size - 1) / 2
    across = -rows * np.cos(theta) - cols * np.sin(theta) - offset
    return np.clip(width / 2 + 0.5 - np.abs(across), 0, 1).astype(np.float32)


@tg.no_grad()
def stage_maps(model, images: np.ndarray) -> dict:
    """LeNet-5's maps after each stage (``conv1``, ``relu1``, ``pool1``, ``conv2``,
    ``relu2``, ``pool2``) as NumPy arrays."""
    out, x = {}, Tensor(images)
    for name in ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2"):
        x = getattr(model, name)(x)
        out[name] = x.numpy()
    return out


def tuning_curves(model, stage: str, transform=None) -> np.ndarray:
    """(channels, orientations): the response of each channel's centre unit
    (:data:`CENTRE`) to a bar of each orientation in :data:`ORIENTATIONS`, at the bar's
    best offset for that unit, as Hubel and Wiesel moved the bar to the best place."""
    stimuli = np.array([[bar(a, o)] for a in ORIENTATIONS for o in OFFSETS])
    if transform is not None:
        stimuli = transform(stimuli)
    maps = stage_maps(model, stimuli)[stage]
    i, j = CENTRE[stage]
    return maps[:, :, i, j].reshape(len(ORIENTATIONS), len(OFFSETS), -1).max(axis=1).T


def selectivity_index(curves: np.ndarray) -> np.ndarray:
    """Orientation selectivity of each tuning curve (rows), ``|sum r e^{2i theta}| /
    sum r``: 0 for the same response to every orientation, 1 for a response to one
    orientation only; NaN for a unit that answers no bar."""
    theta = np.deg2rad(ORIENTATIONS)
    total = curves.sum(axis=-1)
    vector = np.abs((curves * np.exp(2j * theta)).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, vector / np.where(total > 0, total, 1), np.nan)


def orientation_table(models: dict, transforms: dict | None = None) -> dict:
    """``{(model name, stage): selectivity indices}`` for relu1 and relu2."""
    transforms = transforms or {}
    return {(name, stage): selectivity_index(tuning_curves(model, stage, transforms.get(name)))
            for name, model in models.items() for stage in ("relu1", "relu2")}


def linearity_error(model, n_pairs: int = 50, seed: int = 0) -> dict:
    """How far each stage is from a linear (affine) function of the image: the largest
    ``|f(a x + b y) - a f(x) - b f(y) - (1 - a - b) f(0)|`` over pairs of test digits and
    random ``a, b`` in [0.2, 1], relative to the largest ``|f(a x + b y)|``. 0 (float
    rounding) for an affine map: a convolution before its ReLU."""
    rng = np.random.default_rng(seed)
    images = claims.digits(n=2 * n_pairs)[0]
    x, y = images[:n_pairs], images[n_pairs:]
    a, b = (rng.uniform(0.2, 1.0, (n_pairs, 1, 1, 1)).astype(np.float32) for _ in range(2))
    maps = [stage_maps(model, z) for z in (a * x + b * y, x, y, np.zeros_like(x[:1]))]
    out = {}
    for stage in ("conv1", "relu1", "conv2", "relu2"):
        mixed, fx, fy, f0 = (m[stage].astype(np.float64) for m in maps)
        residual = mixed - a * fx - b * fy - (1 - a - b) * f0
        out[stage] = float(np.abs(residual).max() / np.abs(mixed).max())
    return out


def receptive_pixels(model, stage: str = "conv1", channel: int = 0) -> np.ndarray:
    """(28, 28) boolean: the pixels whose change alone (one pixel of a test digit raised
    by 0.5) changes the centre unit of ``stage``."""
    image = claims.digits(n=1)[0]
    probes = np.repeat(image, 784, axis=0)
    probes.reshape(784, 784)[np.arange(784), np.arange(784)] += 0.5
    i, j = CENTRE[stage]
    base = stage_maps(model, image)[stage][0, channel, i, j]
    moved = stage_maps(model, probes)[stage][:, channel, i, j]
    return (moved != base).reshape(28, 28)


def preferred_bars(model, stage: str) -> list:
    """For each channel: the orientation and offset of the bar its centre unit answers
    most, and that response."""
    stimuli = np.array([[bar(a, o)] for a in ORIENTATIONS for o in OFFSETS])
    i, j = CENTRE[stage]
    r = stage_maps(model, stimuli)[stage][:, :, i, j].reshape(len(ORIENTATIONS),
                                                               len(OFFSETS), -1)
    best = [np.unravel_index(np.argmax(r[:, :, c]), r.shape[:2]) for c in range(r.shape[2])]
    return [(float(ORIENTATIONS[t]), float(OFFSETS[o]), float(r[t, o, c]))
            for c, (t, o) in enumerate(best)]


def shift_tolerance(model, simple: str = "relu1", complex_: str = "pool1",
                    moves=(0, 1, 2, 3)) -> dict:
    """Simple cells against complex cells: each channel's preferred bar (for its unit in
    ``simple``, and separately for its unit in ``complex_``) moved across itself by each
    of ``moves`` pixels, both ways; the response kept, as a share of the response to the
    preferred bar, averaged over channels that respond and the two directions."""
    out = {}
    for stage in (simple, complex_):
        i, j = CENTRE[stage]
        kept = []
        for c, (angle, offset, best) in enumerate(preferred_bars(model, stage)):
            if best <= 0:
                continue
            stimuli = np.array([[bar(angle, offset + sign * m)] for m in moves
                                for sign in (-1, 1)])
            r = stage_maps(model, stimuli)[stage][:, c, i, j].reshape(len(moves), 2)
            kept.append(r.mean(axis=1) / best)
        out[stage] = np.mean(kept, axis=0)
    return out


def map_image_correlation(model, n: int = 200) -> float:
    """Median over test digits of the correlation between the digit and the sum of its
    six relu1 maps: how closely the first layer's maps form a picture of the image."""
    images = claims.digits(n=n)[0]
    maps = stage_maps(model, images)["relu1"].sum(axis=1)
    r = [np.corrcoef(images[k, 0].ravel(), maps[k].ravel())[0, 1] for k in range(n)]
    return float(np.median(r))


# ----------------------------------------------------------------------------- page 12

@tg.no_grad()
def probabilities(model, images: np.ndarray) -> np.ndarray:
    """The softmax of the model's logits: (N, classes), float64 for the sums below."""
    return F.softmax(model(Tensor(images)), axis=1).numpy().astype(np.float64)


def likelihood_check(model, images: np.ndarray, labels: np.ndarray) -> dict:
    """The loss is the negative log-likelihood of the labels under the softmax, and its
    gradient with respect to the logits is ``(p - onehot(y)) / N``, measured:
    ``cross_entropy`` from the library against ``-mean log p[y]`` from the softmax in
    NumPy, and the gradient backpropagation gives against the formula."""
    p = probabilities(model, images)
    logits = Tensor(model(Tensor(images)).numpy(), requires_grad=True)
    loss = F.cross_entropy(logits, Tensor(labels))
    loss.backward()
    nll = float(-np.log(p[np.arange(len(labels)), labels]).mean())
    expected = p.copy()
    expected[np.arange(len(labels)), labels] -= 1
    expected /= len(labels)
    return {"sum_to_one": float(np.abs(p.sum(axis=1) - 1).max()),
            "cross_entropy": float(loss.item()), "nll": nll,
            "gradient_error": float(np.abs(logits.grad.numpy() - expected).max()),
            "gradient_scale": float(np.abs(expected).max())}


def reliability(probs: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> dict:
    """A reliability diagram: the test digits binned by the probability of the predicted
    class (the confidence; ``n_bins`` equal bins of [0, 1]), each bin's mean confidence,
    accuracy and count, and the expected calibration error ``sum n_b / N |acc_b - conf_b|``.
    """
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    correct = predicted == labels
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore"):
        mean_conf = np.bincount(which, confidence, n_bins) / count
        accuracy = np.bincount(which, correct, n_bins) / count
    gap = np.nan_to_num(np.abs(accuracy - mean_conf))
    return {"edges": edges, "confidence": mean_conf, "accuracy": accuracy, "count": count,
            "ece": float((count * gap).sum() / len(labels)),
            "mean_confidence": float(confidence.mean()), "accuracy_all": float(correct.mean())}


# ----------------------------------------------------------------------------- page 13

def shift_table(names, moves=(0, 1, 2, 3, 4), **training) -> dict:
    """``{name: (parameters, [test accuracy on digits moved by each of moves])}`` for
    models trained by :func:`trained` (``training``: epochs, batch_size, lr)."""
    images, labels = claims.digits()
    out = {}
    for name in names:
        model = trained(name, **training)
        out[name] = (claims.count_parameters(model),
                     claims.accuracy_under_shift(model, images, labels, moves))
    return out


# ----------------------------------------------------------------------------- page 14

def canvas(size=(112, 140), n_digits: int = 6, seed: int = 0):
    """A dark canvas holding ``n_digits`` test digits at random places on a 4-pixel grid,
    none overlapping: the image, and the digits' labels and top-left corners."""
    rng = np.random.default_rng(seed)
    images, labels = claims.digits()
    picture = np.zeros((1, 1) + tuple(size), np.float32)
    placed, corners = [], []
    while len(placed) < n_digits:
        r = 4 * rng.integers(0, (size[0] - 28) // 4 + 1)  # drawn before c, as before
        c = 4 * rng.integers(0, (size[1] - 28) // 4 + 1)
        if all(abs(r - r2) >= 28 or abs(c - c2) >= 28 for r2, c2 in corners):
            k = int(rng.integers(len(images)))
            picture[0, 0, r:r + 28, c:c + 28] = images[k, 0]
            corners.append((int(r), int(c)))
            placed.append(int(labels[k]))
    return picture, placed, corners


def windows(picture: np.ndarray, stride: int = 4) -> np.ndarray:
    """Every 28x28 window of a (1, 1, H, W) canvas at ``stride``: (rows, cols, 1, 28, 28)."""
    view = np.lib.stride_tricks.sliding_window_view(picture[0, 0], (28, 28))
    return np.ascontiguousarray(view[::stride, ::stride][:, :, None])


def best_time(run, repeats: int = 5) -> float:
    """The fastest of ``repeats`` calls, in seconds (a call that waited for a shared CPU
    measures the other processes). ``run`` returns a tensor; on a GPU the clock stops when
    the device has computed it, not when the work was queued."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        tg.backend.synchronize(out.device)
        best = min(best, time.perf_counter() - start)
    return best


def pixelwise(model, picture: np.ndarray, repeats: int = 5) -> dict:
    """The fully convolutional rewrite of ``model`` run once over ``picture``, against
    ``model`` run on every 28x28 window (one batch): the two class maps (logits,
    (classes, rows, cols)), where they differ, and the time of each.

    They agree exactly (float rounding) where a window's 2-pixel frame on the canvas is
    dark: LeNet-5 pads each window with zeros where the canvas shows the neighbours.
    """
    fcn = fully_convolutional(model).eval()
    crops = windows(picture)
    rows, cols = crops.shape[:2]
    batch = Tensor(crops.reshape(-1, 1, 28, 28))
    with tg.no_grad():
        dense = fcn(Tensor(picture)).numpy()[0]
        per_window = model(batch).numpy().reshape(rows, cols, -1).transpose(2, 0, 1)
        fcn_time = best_time(lambda: fcn(Tensor(picture)), repeats)
        window_time = best_time(lambda: model(batch), repeats)
    padded = np.pad(picture[0, 0], 2)
    frame = np.array([[padded[4 * i:4 * i + 32, 4 * j:4 * j + 32].copy() for j in range(cols)]
                      for i in range(rows)])
    frame[:, :, 2:30, 2:30] = 0
    dark = ~frame.any(axis=(2, 3))
    difference = np.abs(dense - per_window).max(axis=0)
    return {"fcn": dense, "windows": per_window, "dark_frame": dark,
            "max_difference_dark": float(difference[dark].max()),
            "max_difference": float(difference.max()),
            "same_class": float((dense.argmax(0) == per_window.argmax(0)).mean()),
            "fcn_seconds": fcn_time, "windows_seconds": window_time, "n_windows": rows * cols}


def equal_on_digits(model, n: int = 1000) -> float:
    """The largest difference between LeNet-5's logits and its fully convolutional
    rewrite's on ``n`` test digits (28x28: one window each)."""
    images = claims.digits(n=n)[0]
    with tg.no_grad():
        ours = fully_convolutional(model).eval()(Tensor(images)).numpy()[:, :, 0, 0]
        theirs = model(Tensor(images)).numpy()
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())
