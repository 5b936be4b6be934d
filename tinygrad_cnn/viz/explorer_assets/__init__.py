"""The graph explorer's page: its HTML, CSS and JavaScript, and the vendored dagre layout
library with its licences. Package data read by :mod:`tinygrad_cnn.viz.explorer`; nothing
here is Python (the file exists so that setuptools ships the folder as a package)."""
