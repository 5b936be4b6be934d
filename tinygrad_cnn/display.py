"""How tensors look when printed or shown in Jupyter, without copying large ones to the host.

A tensor of more than ``THRESHOLD`` elements is summarised as NumPy and PyTorch do, by the
first and last ``EDGE`` entries of each long axis; only those entries are read from the
device, so printing a GPU activation of 100 MB moves a few hundred bytes.
"""

from __future__ import annotations

import html

import numpy as np

from . import backend

THRESHOLD = 100  # more elements than this are summarised
EDGE = 3  # entries kept at each end of a long axis


def _edges(array):
    """The host array of ``array``'s corner entries, and which axes were cut."""
    xp = backend.xp_of(array)
    cut = []
    for axis, n in enumerate(array.shape):
        cut.append(n > 2 * EDGE)
        if cut[-1]:
            head = (slice(None),) * axis
            array = xp.concatenate([array[head + (slice(0, EDGE),)],
                                    array[head + (slice(n - EDGE, n),)]], axis=axis)
    return backend.to_host(array), cut


def _element_strings(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        whole = bool(np.all(np.isfinite(values) & (values == np.round(values))))
        strings = [np.format_float_positional(v, precision=4, unique=whole,
                                              trim="." if whole else "k")
                   for v in values.flat]  # like NumPy: "1." for whole numbers, else 4 digits
    else:
        strings = [str(v) for v in values.flat]
    width = max((len(s) for s in strings), default=0)
    return np.array([s.rjust(width) for s in strings], dtype=object).reshape(values.shape)


def _nested(strings, cut, indent: int) -> str:
    """Format an array of element strings as nested brackets, with ``...`` where cut."""
    if strings.ndim == 0:
        return strings.item()
    if strings.ndim == 1:
        items = list(strings)
        if cut[0]:
            items = items[:EDGE] + ["..."] + items[EDGE:]
        return "[" + ", ".join(items) + "]"
    rows = [_nested(row, cut[1:], indent + 1) for row in strings]
    if cut[0]:
        rows = rows[:EDGE] + ["..."] + rows[EDGE:]
    separator = "," + "\n" * (strings.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(rows) + "]"


def array_text(array, prefix: str = "tensor(") -> str:
    """The values of a backend array as text, summarised when large."""
    if array.size <= THRESHOLD:
        return np.array2string(backend.to_host(array), separator=", ", prefix=prefix,
                               precision=4, threshold=THRESHOLD)
    corners, cut = _edges(array)
    return _nested(_element_strings(corners), cut, len(prefix))


def tensor_text(t) -> str:
    extras = []
    if t.size > THRESHOLD:
        extras.append(f"shape={tuple(t.shape)}")
    if t.device != backend.HOST:
        extras.append(f"device='{t.device}'")
    if t.dtype not in (np.float32, np.int64, np.bool_):
        extras.append(f"dtype={t.dtype}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name}Backward>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + array_text(t.data) + "".join(", " + e for e in extras) + ")"


def tensor_html(t) -> str:
    """A small table (shape, dtype, device, gradient) above the summarised values."""
    rows = [("shape", tuple(t.shape)), ("dtype", t.dtype), ("device", t.device)]
    if t.grad_fn is not None:
        rows.append(("grad_fn", f"{t.grad_fn.name}Backward"))
    elif t.requires_grad:
        rows.append(("requires_grad", True))
    if t.grad is not None:
        rows.append(("grad", f"{tuple(t.grad.shape)} {t.grad.dtype}"))
    return _table("Tensor", rows, html.escape(array_text(t.data)))


def module_html(module) -> str:
    """Each submodule with its type, settings and parameter count, then the total."""
    rows = []
    for name, sub in module.named_modules():
        own = sum(int(np.prod(p.shape)) for p in sub.parameters(recurse=False))
        rows.append((name or "(model)", f"{type(sub).__name__}({sub.extra_repr()})",
                     f"{own:,}" if own else ""))
    total = sum(int(np.prod(p.shape)) for p in module.parameters())
    body = "".join(f"<tr><td><code>{html.escape(a)}</code></td><td>{html.escape(b)}</td>"
                   f"<td style='text-align:right'>{c}</td></tr>" for a, b, c in rows)
    return (f"<table><thead><tr><th>module</th><th>type</th><th>parameters</th></tr>"
            f"</thead><tbody>{body}</tbody><tfoot><tr><td colspan='2'>total</td>"
            f"<td style='text-align:right'>{total:,}</td></tr></tfoot></table>")


def _table(title: str, rows, values: str) -> str:
    cells = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                    f"<td><code>{html.escape(str(v))}</code></td></tr>" for k, v in rows)
    return f"<b>{title}</b><table>{cells}</table><pre>{values}</pre>"
