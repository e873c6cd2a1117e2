"""Charts written to PNG files by the benchmarks and evaluations (headless: the Agg backend)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def saved_figure(path: Path, ncols: int = 1, figsize: tuple[float, float] = (8, 4), nrows: int = 1) -> Iterator[Any]:
    """Yields the axes (an array when there are several); the figure is laid out, saved to `path` and closed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize)
    try:
        yield axes
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
