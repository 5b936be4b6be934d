"""Sphinx configuration for the documentation site (``make docs``).

The pages are the Markdown files of ``docs/`` (MyST), readable on GitHub as they are; the
theme is the PyData theme that NumPy's and CuPy's documentation use; sphinx-gallery runs the
scripts of ``examples/lecture/`` into pages with their figures; the API reference comes from
the docstrings (autodoc, numpydoc style through napoleon). Nothing is fetched from the
network while building, and nothing while reading: formulas are rendered into the HTML by
KaTeX when the site is built (``katex_prerender``, which needs Node.js), and the pages load
KaTeX's stylesheet and fonts from ``_static/katex/`` (vendored, with their licence).
"""

import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
LECTURE = ROOT / "examples" / "lecture"

# One BLAS thread, as for `make figures`: the gallery's timings compare one core with one core
# and training does not stall when the machine is shared.
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(LECTURE))

import tinygrad_cnn  # noqa: E402

project = "tinygrad_cnn"
author = "the tinygrad_cnn developers"
copyright = "the tinygrad_cnn developers"
version = release = tinygrad_cnn.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinxcontrib.katex",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "gallery/*.ipynb", "gallery/*.py", "gallery/*.zip",
                    "gallery/*.codeobj.json", "sg_execution_times.rst"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["config.cache"]  # sphinx_gallery_conf holds a callable sort key

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
napoleon_google_docstring = False
napoleon_numpy_docstring = True

html_theme = "pydata_sphinx_theme"
html_title = f"tinygrad_cnn {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
html_static_path = ["_static"]

# Formulas: rendered at build time, so the site reads offline (MathJax came from a CDN).
if shutil.which("node") is None:
    raise RuntimeError("building the site renders its formulas with KaTeX through Node.js: "
                       "install node (e.g. apt install nodejs) and rerun make docs")
katex_prerender = True
katex_css_path = "katex/katex.min.css"  # docs/_static/katex/, not the CDN


def lecture_style(gallery_conf, fname, when=None):
    """Apply the lecture's matplotlib style before each gallery script: sphinx-gallery's
    reset of matplotlib undoes what ``figures.py`` set when it was first imported."""
    import figures

    figures.apply_style()


# copied beside the pages as it is: the graph page embeds it (make docs-pictures writes it)
html_extra_path = ["lenet5_explorer.html"]

sphinx_gallery_conf = {
    "reset_modules": ("matplotlib", lecture_style),
    "examples_dirs": str(LECTURE),
    "gallery_dirs": "gallery",
    "filename_pattern": r"plot_\d+",
    # every helper module beside the scripts (claims.py, claims_more.py, figures.py, ...): a
    # listed name let a new helper become an untitled gallery page
    # (matched against the bare file name here, against a path in older sphinx-gallery)
    "ignore_pattern": r"(^|[\\/])(?!plot_\d+)[^\\/]+\.py$",
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "write_computation_times": False,
    "remove_config_comments": True,
    "capture_repr": (),  # figures.quote returns its text: not an output to show
}

# The Markdown pages link their children with plain links, which GitHub shows; Sphinx also
# needs a toctree, so one is added (hidden) to these pages as they are read.
TOCTREES = {
    "index": ["lecture/index", "gallery/index", "architecture", "adding-an-op", "graph",
              "interop", "api"],
    "lecture/index": sorted(page.stem for page in (DOCS / "lecture").glob("[0-9][0-9]-*.md")),
}


def add_toctree(app, docname, source):
    children = TOCTREES.get(docname)
    if children:
        entries = "\n".join(children)
        source[0] += f"\n\n```{{toctree}}\n:hidden:\n:maxdepth: 2\n\n{entries}\n```\n"


def setup(app):
    app.connect("source-read", add_toctree)
