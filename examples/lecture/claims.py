"""The measurements behind the lecture pages (``docs/lecture/``), one section per claim.

The scripts ``plot_*.py`` beside this file draw the pictures from these functions, and
``tests/test_lecture.py`` asserts on the same functions, so a page, its picture and its
test cannot measure different things. Only NumPy and tinygrad_cnn are used here (no
matplotlib), every random draw is seeded, and images are the bundled MNIST sample scaled
to [0, 1] (0 is background, 1 is ink).
"""

from __future__ import annotations

import functools
import time

import numpy as np
import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, nn, optim
from tinygrad_cnn import inspect as ti
from tinygrad_cnn.data import ArrayDataset, DataLoader, MNISTSample
from tinygrad_cnn.models import LeNet5
from tinygrad_cnn.nn import functional as F

#: Epochs of training behind the pictures (the tests train for fewer).
EPOCHS = 10

#: An edge is a change of at least this much intensity per pixel (images in [0, 1]).
EDGE_STEP = 0.2


# ----------------------------------------------------------------------------- data

@functools.lru_cache(maxsize=2)
def _split(train: bool):
    data = MNISTSample(train=train, normalize=False)
    return data.images, data.labels


def digits(train: bool = False, n: int | None = None):
    """``(images, labels)`` of the bundled sample: float32 (N, 1, 28, 28) in [0, 1], int64.

    The arrays are shared between calls; copy before writing into them.
    """
    images, labels = _split(train)
    return (images, labels) if n is None else (images[:n], labels[:n])


def shift(images: np.ndarray, dx: int = 0, dy: int = 0) -> np.ndarray:
    """Move images ``dx`` pixels right and ``dy`` down (negative: left, up); what enters
    is background (0), what leaves is lost."""
    out = np.zeros_like(images)
    H, W = images.shape[-2:]
    rows_to, rows_from = slice(max(dy, 0), H + min(dy, 0)), slice(max(-dy, 0), H + min(-dy, 0))
    cols_to, cols_from = slice(max(dx, 0), W + min(dx, 0)), slice(max(-dx, 0), W + min(-dx, 0))
    out[..., rows_to, cols_to] = images[..., rows_from, cols_from]
    return out


def permute_pixels(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """The same fixed random permutation of the 784 pixel positions applied to every image."""
    order = np.random.default_rng(seed).permutation(images[0].size)
    flat = images.reshape(len(images), -1)
    return flat[:, order].reshape(images.shape)


# ----------------------------------------------------------------------------- models

def mlp() -> nn.Sequential:
    """A fully connected network of LeNet-5's size: 784 -> 78 -> 10, 62,020 parameters
    (LeNet-5 has 61,706)."""
    return nn.Sequential(nn.Flatten(1), nn.Linear(784, 78), nn.ReLU(), nn.Linear(78, 10))


MODELS = {"LeNet-5": LeNet5, "MLP": mlp}


def count_parameters(model) -> int:
    return sum(p.data.size for p in model.parameters())


def train_classifier(model, images, labels, epochs: int, seed: int = 0, lr: float = 2e-3,
                     batch_size: int = 64):
    """Adam on shuffled mini-batches of ``(images, labels)``; returns ``model`` in eval mode.

    No augmentation: whatever robustness to shifts the model shows comes from its
    architecture, not from having seen shifted digits.
    """
    loader = DataLoader(ArrayDataset(images, labels), batch_size, shuffle=True, seed=seed)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


@tg.no_grad()
def accuracy(model, images, labels, batch_size: int = 1000) -> float:
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = model(Tensor(images[start:start + batch_size])).numpy()
        correct += int((logits.argmax(axis=1) == labels[start:start + batch_size]).sum())
    return correct / len(images)


@functools.lru_cache(maxsize=8)
def trained(name: str = "LeNet-5", epochs: int = EPOCHS, seed: int = 0,
            permuted: bool = False, batch_size: int = 64, lr: float = 2e-3):
    """A model from :data:`MODELS` trained on the 4,000 training digits (pixels permuted
    if asked); cached, so scripts run in one process (sphinx-gallery) train it once.
    Treat the result as read-only."""
    images, labels = digits(train=True)
    if permuted:
        images = permute_pixels(images)
    tg.manual_seed(seed)
    return train_classifier(MODELS[name](), images, labels, epochs, seed, lr, batch_size)


# ----------------------------------------------------------------------------- claim 1

def correlation_and_convolution(x: np.ndarray, w: np.ndarray, mode: str = "valid") -> dict:
    """``conv1d`` of a signal with ``w`` and with ``w`` flipped, beside NumPy's
    ``correlate`` and ``convolve``, and how far apart each pair is.

    ``mode`` is NumPy's: ``"valid"`` (no padding) or ``"full"`` (padding ``k - 1``).
    """
    padding = {"valid": 0, "full": len(w) - 1}[mode]

    def conv(kernel):
        return F.conv1d(Tensor(x.reshape(1, 1, -1), dtype=np.float64),
                        Tensor(np.ascontiguousarray(kernel).reshape(1, 1, -1),
                               dtype=np.float64), padding=padding).numpy().ravel()

    ours, ours_flipped = conv(w), conv(w[::-1])
    convolution = np.convolve(x, w, mode=mode)
    correlation = np.correlate(x, w, mode=mode)
    return {
        "conv1d": ours, "conv1d_flipped": ours_flipped,
        "convolve": convolution, "correlate": correlation,
        "conv1d_vs_correlate": float(np.abs(ours - correlation).max()),
        "conv1d_vs_convolve": float(np.abs(ours - convolution).max()),
        "flipped_vs_convolve": float(np.abs(ours_flipped - convolution).max()),
    }


def convolve2d(image: np.ndarray, w: np.ndarray, padding: int = 0) -> np.ndarray:
    """True 2-D convolution of one image by its definition, ``sum w[a, b] x[i - a, j - b]``
    (the kernel flipped), with zero padding: NumPy sliding windows, independent of
    ``conv2d``."""
    padded = np.pad(np.asarray(image, dtype=np.float64), padding)
    windows = np.lib.stride_tricks.sliding_window_view(padded, w.shape)
    return np.einsum("ijkl,kl->ij", windows, np.asarray(w, dtype=np.float64)[::-1, ::-1])


def conv2d_one(image: np.ndarray, w: np.ndarray, padding: int = 0) -> np.ndarray:
    """``conv2d`` of one (H, W) image with one (kh, kw) kernel, in float64."""
    return F.conv2d(Tensor(image[None, None], dtype=np.float64),
                    Tensor(np.ascontiguousarray(w)[None, None], dtype=np.float64),
                    padding=padding).numpy()[0, 0]


# ----------------------------------------------------------------------------- claim 2

def banded_counts(w: np.ndarray, input_shape) -> dict:
    """Entries, nonzeros and independent parameters of the matrix of a same-size
    convolution with kernel ``w`` (padding ``k // 2``), against a general matrix."""
    w = np.asarray(w, dtype=np.float64)
    matrix = ti.conv_matrix(w, input_shape, padding=tuple(k // 2 for k in w.shape))
    size = int(np.prod(input_shape))
    return {"shape": matrix.shape, "entries": matrix.size,
            "nonzeros": int(np.count_nonzero(matrix)), "independent": w.size,
            "dense_independent": size * size}


def time_dense_and_conv(sizes, k: int = 3, repeats: int = 15, seed: int = 0,
                        max_dense: int = 4096, block_s: float = 2e-3) -> dict:
    """Seconds per call of ``W @ x`` (W the dense D x D matrix of the convolution) and of
    ``conv1d`` on the same signal, for each length D in ``sizes``, both through
    tinygrad_cnn Tensors under ``no_grad``; the dense product only up to ``max_dense``
    (None beyond: at D = 2^20 its matrix would take 4 TiB).

    Each figure is the median over ``repeats`` blocks of the mean time of a call in the
    block, a block being as many calls as take ``block_s`` seconds: one call of a few
    microseconds is below the clock's and the scheduler's noise, and the median ignores the
    blocks in which the CPU went to another process (the fastest single call, used before,
    gave a jagged curve on a shared machine). Run with ``OPENBLAS_NUM_THREADS=1``
    (``make figures`` does) to compare one core with one core.
    """
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(k).astype(np.float32)
    result = {"D": list(sizes), "dense": [], "conv": []}
    with tg.no_grad():
        for D in sizes:
            x = rng.standard_normal(D).astype(np.float32)
            signal, kernel = Tensor(x.reshape(1, 1, D)), Tensor(w.reshape(1, 1, k))
            runs = {"conv": functools.partial(F.conv1d, signal, kernel, padding=k // 2)}
            if D <= max_dense:
                dense = Tensor(ti.conv_matrix(w, (D,), padding=k // 2))
                column = Tensor(x.reshape(D, 1))
                runs["dense"] = functools.partial(Tensor.__matmul__, dense, column)
                np.testing.assert_allclose(runs["dense"]().numpy().ravel(),
                                           runs["conv"]().numpy().ravel(), rtol=1e-4,
                                           atol=1e-4)
            else:
                result["dense"].append(None)
            for key, run in runs.items():
                result[key].append(median_call_time(run, repeats, block_s))
    return result


def median_call_time(run, repeats: int, block_s: float) -> float:
    """Seconds per call of ``run()``: the median of ``repeats`` blocks of calls lasting
    about ``block_s`` each (see :func:`time_dense_and_conv`)."""
    run()  # warm up: first-call allocations and caches
    start = time.perf_counter()
    run()
    calls = max(1, int(block_s / max(time.perf_counter() - start, 1e-7)))
    blocks = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        blocks.append((time.perf_counter() - start) / calls)
    return float(np.median(blocks))


# ----------------------------------------------------------------------------- claim 3

EDGE_KERNEL = np.array([-1.0, 1.0], dtype=np.float32)


def edge_maps(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cross-correlation with ``(-1, 1)`` along the rows (vertical edges, one column
    fewer) and along the columns (horizontal edges, one row fewer), through ``conv2d``."""
    x = Tensor(images)
    with tg.no_grad():
        across = F.conv2d(x, Tensor(EDGE_KERNEL.reshape(1, 1, 1, 2))).numpy()
        down = F.conv2d(x, Tensor(EDGE_KERNEL.reshape(1, 1, 2, 1))).numpy()
    return across, down


# ----------------------------------------------------------------------------- claim 4

def edge_pixels(images: np.ndarray, size: int) -> np.ndarray:
    """Where a textbook edge detector of the kernel's size responds, as a boolean map
    aligned with the output of that kernel.

    ``size=2``: the 1x2 outputs (valid, 28 x 27) where the two pixels read differ by
    more than :data:`EDGE_STEP`. ``size=3``: the 3x3 outputs (padding 1, 28 x 28) where
    the central-difference gradient ``((x[j+1] - x[j-1])^2 + (x[i+1] - x[i-1])^2)^0.5``
    exceeds ``2 * EDGE_STEP`` (the same change per pixel).
    """
    if size == 2:
        return np.abs(images[..., 1:] - images[..., :-1]) > EDGE_STEP
    if size == 3:
        padded = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)))
        dx = padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]
        dy = padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]
        return np.sqrt(dx ** 2 + dy ** 2) > 2 * EDGE_STEP
    raise ValueError(f"edge_pixels: size must be 2 or 3, got {size}")


def energy_share(responses: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """For each channel of ``responses`` (N, K, H, W): the share of its squared response,
    summed over all images, that falls on the pixels where ``mask`` (N, 1, H, W) is true.
    A response spread evenly over the image scores ``mask.mean()``."""
    energy = responses.astype(np.float64) ** 2
    return (energy * mask).sum(axis=(0, 2, 3)) / energy.sum(axis=(0, 2, 3))


def _kernel_geometry(size):
    return ((1, 2), 0) if size == 2 else ((3, 3), 1)


def kernel_responses(images: np.ndarray, kernels: np.ndarray, size: int) -> np.ndarray:
    """``conv2d`` of the images with each kernel (K, kh, kw), aligned with
    :func:`edge_pixels`: (N, K, H, W)."""
    shape, padding = _kernel_geometry(size)
    weight = Tensor(kernels.reshape((len(kernels), 1) + shape).astype(np.float32))
    with tg.no_grad():
        return F.conv2d(Tensor(images), weight, padding=padding).numpy()


def random_kernel_shares(images: np.ndarray, size: int, n_kernels: int, seed: int = 0,
                         chunk: int = 100) -> np.ndarray:
    """Edge energy share (:func:`energy_share` on :func:`edge_pixels`) of ``n_kernels``
    random kernels with independent standard normal weights, 1x2 or 3x3."""
    rng = np.random.default_rng(seed)
    shape, _ = _kernel_geometry(size)
    kernels = rng.standard_normal((n_kernels,) + shape)
    mask = edge_pixels(images, size)
    return np.concatenate([
        energy_share(kernel_responses(images, kernels[i:i + chunk], size), mask)
        for i in range(0, n_kernels, chunk)])


def dense_matrix_shares(images: np.ndarray, size: int, n_matrices: int,
                        seed: int = 0) -> np.ndarray:
    """The same share for random dense matrices (standard normal entries) mapping the 784
    pixels to an output of the same shape as the kernel's: no locality, no sharing."""
    rng = np.random.default_rng(seed)
    mask = edge_pixels(images, size)
    out_shape = mask.shape[1:]
    flat = Tensor(images.reshape(len(images), -1))
    shares = []
    with tg.no_grad():
        for _ in range(n_matrices):
            matrix = Tensor(rng.standard_normal((int(np.prod(out_shape)), flat.shape[1]))
                            .astype(np.float32))
            out = (flat @ matrix.T).numpy().reshape((len(images),) + out_shape)
            shares.append(energy_share(out, mask)[0])
    return np.array(shares)


#: Reference kernels: the edge detectors that define the edge pixels, and blurs.
REFERENCE_KERNELS = {
    2: {"edge (-1, 1)": np.array([[[-1.0, 1.0]]]), "blur (1, 1)": np.array([[[1.0, 1.0]]])},
    3: {"edge (central differences)": np.array([[[0, 0, 0], [-1, 0, 1], [0, 0, 0]],
                                                [[0, -1, 0], [0, 0, 0], [0, 1, 0]]], float),
        "blur (3x3 ones)": np.ones((1, 3, 3))},
}


def reference_shares(images: np.ndarray, size: int) -> dict:
    """The edge energy share of the reference kernels (their channels together)."""
    mask = edge_pixels(images, size)
    out = {}
    for name, kernels in REFERENCE_KERNELS[size].items():
        energy = kernel_responses(images, kernels, size).astype(np.float64) ** 2
        total = energy.sum(axis=1, keepdims=True)
        out[name] = float((total * mask).sum() / total.sum())
    return out


def edge_concentration(images: np.ndarray, size: int, n_kernels: int, n_matrices: int,
                       seed: int = 0) -> dict:
    """Everything claim 4 reports for one kernel size."""
    kernels = random_kernel_shares(images, size, n_kernels, seed)
    dense = dense_matrix_shares(images, size, n_matrices, seed + 1)
    return {"edge_fraction": float(edge_pixels(images, size).mean()),
            "random_kernels": kernels, "dense": dense, **reference_shares(images, size)}


# ----------------------------------------------------------------------------- claim 5

def learn_edge_kernel(signals: np.ndarray, steps: int = 200, lr: float = 1.0,
                      seed: int = 0) -> dict:
    """Plain gradient descent on a 2-tap kernel so that ``conv1d(signal, w)`` matches the
    edge map ``conv1d(signal, (-1, 1))`` in mean squared error, from a random start.

    Returns the loss before each step and the kernel after each step (index 0: the
    start), as arrays of length ``steps`` and ``(steps + 1, 2)``.
    """
    x = Tensor(signals.reshape(len(signals), 1, -1))
    with tg.no_grad():
        target = F.conv1d(x, Tensor(EDGE_KERNEL.reshape(1, 1, 2)))
    start = np.random.default_rng(seed).standard_normal(2).astype(np.float32)
    w = nn.Parameter(start.reshape(1, 1, 2))
    optimizer = optim.SGD([w], lr=lr)
    losses, path = [], [w.numpy().ravel().copy()]
    for _ in range(steps):
        loss = F.mse_loss(F.conv1d(x, w), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        path.append(w.numpy().ravel().copy())
    return {"loss": np.array(losses), "w": np.array(path)}


def digit_rows(n_digits: int = 64) -> np.ndarray:
    """The rows of the first ``n_digits`` training digits: (28 * n_digits, 28) signals."""
    images, _ = digits(train=True, n=n_digits)
    return images[:, 0].reshape(-1, 28)


# ----------------------------------------------------------------------------- claim 6

def filter_similarity(weight: np.ndarray) -> float:
    """The largest |cosine| between two different filters of a conv weight (F, C, kh, kw):
    1 would mean two filters detect the same pattern."""
    flat = weight.reshape(len(weight), -1).astype(np.float64)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    cosines = np.abs(flat @ flat.T)
    return float(cosines[np.triu_indices(len(weight), 1)].max())


def filter_ablation(model, images, labels) -> dict:
    """Test accuracy of a copy of a trained LeNet-5 with all conv1 filters, with only one
    kept (the others' weights zeroed), and with one removed."""
    copy = LeNet5(num_classes=model.num_classes)
    copy.load_state_dict(model.state_dict())
    copy.eval()
    weight = copy.conv1.weight.data
    original = weight.copy()
    keep_one, drop_one = [], []
    for f in range(len(original)):
        weight[...] = 0
        weight[f] = original[f]
        keep_one.append(accuracy(copy, images, labels))
        weight[...] = original
        weight[f] = 0
        drop_one.append(accuracy(copy, images, labels))
        weight[...] = original
    return {"all": accuracy(copy, images, labels), "keep_one": np.array(keep_one),
            "drop_one": np.array(drop_one)}


# ----------------------------------------------------------------------------- claim 7

DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))

#: The stages compared in claim 7: name -> function of the detector maps.
POOLS = {
    "conv + ReLU": lambda d: d,
    "max pool 2x2, stride 2 (LeNet-5)": lambda d: F.max_pool2d(d, 2),
    "max pool 3x3, stride 1": lambda d: F.max_pool2d(d, 3, stride=1, padding=1),
}


def unchanged_share(conv, images, shifts=(1, 2, 3)) -> dict:
    """For each stage of :data:`POOLS` and each shift: the share of responding units whose
    value is unchanged when the input moves by that many pixels (right, left, down and up,
    pooled).

    A unit counts when the digit drives it, in either position, to a positive value other
    than its value on a blank image: background units that only pass their bias on never
    change, and units the ReLU holds at 0 in both positions keep a value that carries
    nothing, so neither is counted. *Unchanged* means equal up to 1e-6 of the largest value.
    """
    with tg.no_grad():
        def maps(x):
            detector = F.relu(conv(Tensor(x)))
            return {name: pool(detector).numpy() for name, pool in POOLS.items()}

        before, blank = maps(images), maps(np.zeros_like(images[:1]))
        result = {name: [] for name in POOLS}
        for s in shifts:
            same = {name: 0 for name in POOLS}
            responding = {name: 0 for name in POOLS}
            for dx, dy in DIRECTIONS:
                after = maps(shift(images, s * dx, s * dy))
                for name in POOLS:
                    a, b, z = before[name], after[name], blank[name]
                    tol = 1e-6 * np.abs(a).max()
                    active = (((np.abs(a - z) > tol) | (np.abs(b - z) > tol))
                              & ((a > tol) | (b > tol)))
                    same[name] += int((active & (np.abs(a - b) <= tol)).sum())
                    responding[name] += int(active.sum())
            for name in POOLS:
                result[name].append(same[name] / responding[name])
    return result


def accuracy_under_shift(model, images, labels, shifts=(0, 1, 2, 3, 4)) -> list:
    """Test accuracy when every digit is moved by ``s`` pixels, averaged over the four
    directions, for each ``s``."""
    return [float(np.mean([accuracy(model, shift(images, s * dx, s * dy), labels)
                           for dx, dy in DIRECTIONS])) for s in shifts]


# ----------------------------------------------------------------------------- claim 9

def formula_receptive_fields(model, names) -> dict:
    """Receptive-field sizes from the layers' settings, walking the model in order:
    ``r += (kernel - 1) * jump`` and ``jump *= stride`` at each convolution or pool."""
    field, jump, out = 1, 1, {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            kernel = np.broadcast_to(module.kernel_size, 2)
            stride = np.broadcast_to(module.stride, 2)
            field, jump = field + (kernel - 1) * jump, jump * stride
        if name in names:
            out[name] = tuple(int(v) for v in np.broadcast_to(field, 2))
    return out


# ----------------------------------------------------------------------------- claim 10

def permutation_table(epochs: int = EPOCHS, seeds=(0,), **training) -> dict:
    """Test accuracy of LeNet-5 and the MLP trained and tested on the digits as they are
    and with the pixels permuted: ``{(model, permuted): [accuracy per seed]}``.
    ``training`` (batch_size, lr) goes to :func:`trained`."""
    test_images, test_labels = digits(train=False)
    table = {}
    for name in MODELS:
        for permuted in (False, True):
            images = permute_pixels(test_images) if permuted else test_images
            table[name, permuted] = [
                accuracy(trained(name, epochs, seed, permuted, **training), images,
                         test_labels)
                for seed in seeds]
    return table
