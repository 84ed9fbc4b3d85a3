import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

from tlkeras import plots


def test_plot_histories_draws_train_and_validation():
    ax = plots.plot_histories({"a": {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, "b": {"loss": [2.0, 1.0]}})
    assert len(ax.lines) == 3


def test_plot_histories_rejects_missing_metric():
    with pytest.raises(ValueError, match="has no 'accuracy'"):
        plots.plot_histories({"a": {"loss": [1.0]}}, metric="accuracy")


def test_layer_histograms_title_each_layer_with_its_std():
    axes = plots.plot_layer_histograms({"l1": np.ones(10), "l2": np.zeros(10), "l3": np.arange(10)})
    assert [ax.get_title() for ax in axes] == ["l1\nstd=0", "l2\nstd=0", "l3\nstd=2.9"]
    assert sum(patch.get_height() for patch in axes[2].patches) == 10  # every value counted once


def test_table_text_and_html():
    table = plots.table([{"scheme": "he", "acc": 0.81234}, {"scheme": "<b>", "acc": 0.1}])
    assert "0.812" in str(table) and "scheme" in str(table).splitlines()[0]
    assert "&lt;b&gt;" in table._repr_html_()


def test_many_runs_get_distinct_colours():
    runs = {f"run{i}": {"loss": [1.0, 0.5]} for i in range(12)}
    colours = {str(line.get_color()) for line in plots.plot_histories(runs).lines}
    assert len(colours) == 12


def test_confusion_shows_row_rates_and_counts():
    ax = plots.confusion(np.array([[3, 1], [0, 4]]), ["a", "b"])
    assert [text.get_text() for text in ax.texts] == ["3", "1", "0", "4"]
    assert ax.images[0].get_array()[0, 0] == 0.75


def test_roc_labels_each_curve_with_its_auc():
    ax = plots.roc({"mel": ([0, 0.5, 1], [0, 0.9, 1], 0.7)})
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["mel (AUC 0.700)", "chance"]
