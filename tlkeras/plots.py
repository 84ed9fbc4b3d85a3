"""Plots and tables the notebooks would rather show than print.

Introduced in notebook 01 (`plot_histories`, `plot_layer_histograms`, `table`); `confusion` and `roc` in 05.
"""

import html

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np


def _history_dict(history):
    return history.history if hasattr(history, "history") else dict(history)


def plot_histories(histories, metric="loss", title=None, ax=None, logy=False):
    """Plot `metric` per epoch for several runs ({name: History or dict}) on one axis; dashed = validation."""
    if not histories:
        raise ValueError("plot_histories needs at least one run")
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for index, (name, history) in enumerate(histories.items()):
        values = _history_dict(history)
        if metric not in values:
            raise ValueError(f"run {name!r} has no {metric!r}; it has {sorted(values)}")
        # more than 10 runs would wrap the default colour cycle and make two runs look alike
        color = plt.cm.tab20(index % 20) if len(histories) > 10 else f"C{index}"
        epochs = np.arange(1, len(values[metric]) + 1)
        ax.plot(epochs, values[metric], color=color, label=name)
        if f"val_{metric}" in values:
            ax.plot(epochs, values[f"val_{metric}"], color=color, linestyle="--")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    validation = any(f"val_{metric}" in _history_dict(h) for h in histories.values())
    ax.set_ylabel(metric + (" (dashed: validation)" if validation else ""))
    if logy:
        ax.set_yscale("log")
    ax.set_title(title or metric)
    ax.legend(fontsize="small", ncol=2)
    return ax


def plot_layer_histograms(arrays, title=""):
    """One histogram per layer ({layer: array}), left to right from input to output."""
    if not arrays:
        raise ValueError("plot_layer_histograms needs at least one layer")
    _, axes = plt.subplots(1, len(arrays), figsize=(2.2 * len(arrays), 2.2), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (name, values) in zip(axes, arrays.items()):
        flat = np.asarray(values).ravel()
        ax.hist(flat, bins=60, color="C0")
        ax.set_title(f"{name}\nstd={flat.std():.2g}", fontsize="small")
        ax.tick_params(labelsize="x-small")
    axes[0].figure.suptitle(title)
    axes[0].figure.tight_layout()
    return axes


class Table:
    """Rows of dicts shown as an HTML table in Jupyter and as aligned text elsewhere (`table` makes one)."""

    def __init__(self, rows, floatfmt=".3f"):
        self.rows = list(rows)
        self.columns = list(self.rows[0].keys() if self.rows else [])
        self.floatfmt = floatfmt

    def _cell(self, value):
        return format(value, self.floatfmt) if isinstance(value, float) else str(value)

    def __str__(self):
        cells = [self.columns] + [[self._cell(row.get(col, "")) for col in self.columns] for row in self.rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(self.columns))]
        lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths)) for line in cells]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        head = "".join(f"<th>{html.escape(str(col))}</th>" for col in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(self._cell(row.get(col, '')))}</td>" for col in self.columns) + "</tr>"
            for row in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


table = Table  # tlk.plots.table(rows, floatfmt=".3f"): a results table from a list of dicts


def confusion(matrix, class_names, ax=None, title="Confusion matrix"):
    """Row-normalised confusion matrix (the diagonal is each class's sensitivity), annotated with counts."""
    matrix = np.asarray(matrix)
    ax = ax or plt.subplots(figsize=(5, 4.5))[1]
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, int(count), ha="center", va="center", color="white" if rates[i, j] > 0.5 else "black")
    ax.set(xticks=range(len(class_names)), yticks=range(len(class_names)), xlabel="predicted", ylabel="true")
    ax.set(xticklabels=class_names, yticklabels=class_names, title=title)
    return ax


def roc(curves, ax=None, title="ROC"):
    """ROC curves from {label: (false-positive rates, true-positive rates, AUC)} with the chance diagonal."""
    ax = ax or plt.subplots(figsize=(4.5, 4.5))[1]
    for label, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "k:", label="chance")
    ax.set(xlabel="1 - specificity (false-positive rate)", ylabel="sensitivity (true-positive rate)", title=title)
    ax.legend(loc="lower right")
    return ax
