"""Look inside a model: the matrix a convolution multiplies by, receptive fields, activations.

Three tools for seeing what a convolutional network computes, built on the public API
only (``nn.functional``, autograd and :meth:`~tinygrad_cnn.nn.Module.register_forward_hook`):

- :func:`conv_matrix`: the dense matrix ``M`` with ``conv(x) == M @ x`` for one sample;
- :func:`receptive_field` and :func:`receptive_field_mask`: the input region that can
  reach one unit of a layer, measured with autograd; :func:`input_gradient`: the region
  that does reach it for a given input;
- :func:`activations`: the output of every named submodule for one forward pass.

They live in :mod:`.convolution_matrix`, :mod:`.receptive_fields` and :mod:`.probing`
(which also finds layers by name and catches their outputs); scripts import them from here
or from :mod:`tinygrad_cnn.inspect`.
"""

from .convolution_matrix import conv_matrix
from .probing import activations
from .receptive_fields import input_gradient, receptive_field, receptive_field_mask

__all__ = ["activations", "conv_matrix", "input_gradient", "receptive_field",
           "receptive_field_mask"]
