"""The imports of a package, read from its source with :mod:`ast`, nothing imported.

Relative and absolute imports of the package, also those inside functions, each resolved
to the module it names: ``from .. import backend`` is ``backend.py``, ``from ..viz import
provenance`` is ``viz/provenance.py``, ``from .. import __version__`` is the package's
``__init__.py`` (a name, not a module). :mod:`.architecture` judges them against the
layer table; :func:`private_names_crossing` finds private names that leave their module.
"""

from __future__ import annotations

import ast
import collections
import functools
import os
from typing import NamedTuple

# this package's own folder, tinygrad_cnn/, read when no other is given
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Import(NamedTuple):
    """One module importing another (one per import statement and imported module)."""

    importer: str  # "tinygrad_cnn/nn/conv.py"
    imported: str  # "tinygrad_cnn/backend.py"
    line: int
    names: tuple  # names taken from the imported module ((), when the module itself is)


class PackageSource(NamedTuple):
    """What :func:`read_package` found in a package's source."""

    modules: dict  # dotted name -> path
    imports: tuple  # Import
    unresolved: tuple  # (importer path, line, dotted name)
    reached: tuple  # (path, line, module path, attribute): module.attribute read by path


# ----------------------------------------------------------------------------- reading

def _modules(root: str) -> dict:
    """Dotted name -> path (``tinygrad_cnn.nn.conv`` -> ``tinygrad_cnn/nn/conv.py``) of
    every module under ``root``, a package folder."""
    package = os.path.basename(os.path.normpath(root))
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for file in sorted(f for f in files if f.endswith(".py")):
            rel = os.path.relpath(os.path.join(folder, file), root).replace(os.sep, "/")
            parts = rel[:-3].split("/")
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = f"{package}/{rel}"
    return found


def _anchor(name: str, path: str, level: int) -> str | None:
    """The package a relative import with ``level`` dots starts from, or None above the top."""
    parts = name.split(".")
    if not path.endswith("/__init__.py"):
        parts = parts[:-1]  # a module's imports are relative to its package
    if level - 1 >= len(parts):
        return None
    return ".".join(parts[: len(parts) - (level - 1)])


def read_package(root: str | None = None) -> PackageSource:
    """Modules, imports and module attribute reads of the package under ``root`` (this
    package by default), read again only when a file changed (the tests ask often)."""
    root = os.path.abspath(root or PACKAGE_DIR)
    modules = _modules(root)
    stamps = []
    for path in modules.values():
        info = os.stat(os.path.join(os.path.dirname(root), path))
        stamps.append((path, info.st_mtime_ns, info.st_size))
    return _read_files(root, tuple(modules.items()), tuple(stamps))


@functools.lru_cache(maxsize=8)
def _read_files(root: str, modules: tuple, stamps: tuple) -> PackageSource:
    package = os.path.basename(os.path.normpath(root))
    modules = dict(modules)
    imports, unresolved, reached = [], [], []
    for name, path in modules.items():
        with open(os.path.join(os.path.dirname(root), path), encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=path)
        bound = {}  # a name this module binds to a module of the package -> its path
        attributes = []  # name.attribute reads, resolved once all imports are bound
        for node in ast.walk(tree):  # every import, those inside functions too
            if isinstance(node, ast.Attribute):
                if isinstance(node.value, ast.Name):
                    attributes.append(node)
                continue
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            taken = collections.defaultdict(list)  # dotted target -> names
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == package or alias.name.startswith(package + "."):
                        taken[alias.name] = []
                        if alias.name in modules:
                            local = alias.asname or alias.name.split(".")[0]
                            bound[local] = modules[alias.name if alias.asname else package]
            else:
                if node.level:
                    base = _anchor(name, path, node.level)
                    if base is None:
                        unresolved.append((path, node.lineno, "." * node.level
                                           + (node.module or "")))
                        continue
                    base = f"{base}.{node.module}" if node.module else base
                elif node.module == package or (node.module or "").startswith(package + "."):
                    base = node.module
                else:
                    continue
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    if submodule in modules:  # from .. import backend: the module itself
                        taken[submodule] = []
                        bound[alias.asname or alias.name] = modules[submodule]
                    else:  # a name defined in base (or *)
                        taken[base].append(alias.name)
            for target, names in taken.items():
                if target in modules:
                    imports.append(Import(path, modules[target], node.lineno, tuple(names)))
                else:
                    unresolved.append((path, node.lineno, target))
        reached += [(path, node.lineno, bound[node.value.id], node.attr)
                    for node in attributes if node.value.id in bound]
    return PackageSource(modules, tuple(sorted(imports)), tuple(sorted(unresolved)),
                   tuple(sorted(reached)))


def import_graph(root: str | None = None) -> list[Import]:
    """Every import of a module of the package by another, one per import statement and
    imported module, sorted by importer and line.

    Parameters
    ----------
    root : str, optional
        A package folder; this package's own by default (tests point it at a made-up one).
    """
    return list(read_package(root).imports)


def modules(root: str | None = None) -> list[str]:
    """The paths of all modules of the package, ``tinygrad_cnn/...py``."""
    return sorted(_modules(os.path.abspath(root or PACKAGE_DIR)).values())


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_names_crossing(root: str | None = None) -> list[str]:
    """Private names (one leading underscore) that a module imports from another module of
    the package, or reads as ``module._name`` through a module it imported, in words.

    The house rule says there should be none: a name another module needs gets a public
    name. Reads through anything but a module name (``DEVICES["cuda"]._rng``) are not seen.
    """
    source = read_package(root)
    out = [f"{imp.importer}:{imp.line} imports {name} from {imp.imported}"
           for imp in source.imports for name in imp.names if _private(name)]
    out += [f"{path}:{line} reads {attr} of {target}"
            for path, line, target, attr in source.reached if _private(attr) and target != path]
    return out
