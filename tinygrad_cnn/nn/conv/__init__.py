"""The fast 2-D convolution, in three parts read in this order:

* :mod:`.geometry`: every size of a convolution (:class:`ConvGeometry`) and how the output
  is cut into cache-sized blocks (:func:`blocks`); arithmetic on shapes only;
* :mod:`.im2col`: the kernels that move values between image and matrix layout (the
  padded batch-last source, the im2col view and copy, col2im) and :func:`reshaped_view`,
  which checks that a write lands where it must;
* :mod:`.op`: :class:`Conv2dOp`, with its strategies named: forward on the whole batch
  (:class:`~.op.WholeIm2col`) or in blocks (:class:`~.op.BlockedIm2col`), the input
  gradient by rows or by col2im.

What it computes, without the speed, is :func:`tinygrad_cnn.nn.reference.conv2d`.
"""

from .geometry import Block, ConvGeometry, blocks, conv_geometry, out_size
from .op import Conv2dOp

__all__ = ["Block", "Conv2dOp", "ConvGeometry", "blocks", "conv_geometry", "out_size"]
