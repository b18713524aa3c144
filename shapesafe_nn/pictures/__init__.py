"""Pictures: ways to see inside a model, as a table, a drawing or a plot.

- ``trace.py``: a table of every layer's input, output and gradient, with
  their shapes, for one forward and backward (``shapesafe-nn trace``);
- ``svg.py``: a layer's matrix products drawn as boxes to scale, labelled
  with their dims, written as SVG text (``shapesafe-nn draw``);
- ``png.py``: plots of what a model holds and learns (attention weights,
  position tables, loss curves, MNIST digits), drawn with matplotlib, the
  ``plot`` extra, and saved as PNG (``shapesafe-nn attention``, ``plot``);
- ``symbol_sheet.py``: the symbol sheet's rows (``docs/symbols.md``), each
  symbol's dims read from the annotation or parameter that declares them.
"""

from .png import (MissingGlyphsWarning, attention_figure, mask_figure, matplotlib_available,
                  plot_attention, plot_curves, plot_mask, plot_mnist_errors, plot_mnist_weights,
                  plot_positions, plot_translation_attention, translation_attention_figure)
from .svg import draw_block, draw_dense, draw_head, draw_multi_head, to_svg
from .trace import Trace, TraceRow, trace

__all__ = [
    "MissingGlyphsWarning", "Trace", "TraceRow", "attention_figure", "draw_block", "draw_dense",
    "draw_head", "draw_multi_head", "mask_figure", "matplotlib_available", "plot_attention",
    "plot_curves", "plot_mask", "plot_mnist_errors", "plot_mnist_weights", "plot_positions",
    "plot_translation_attention", "to_svg", "trace", "translation_attention_figure",
]
