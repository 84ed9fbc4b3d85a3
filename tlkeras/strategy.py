"""Transfer-learning recipes: the rule-of-thumb table (how much new data x how similar to the source).

The table, as the CS231n "Transfer Learning" notes and Andrew Ng's deeplearning.ai lecture on transfer
learning present it, decides from two questions what to reuse from a pretrained network, what to freeze
and what to train. `recommend` returns a cell's recipe as a `Recipe`; `plan` names the layers of a given
model that the recipe reuses, freezes, re-initializes and drops. Building and training the new model
(clone, ``trainable = False``, ``compile``, ``fit``) is the lesson, so notebook 04 does it in its own cells.
"""

import dataclasses

SIZES = ("small", "medium", "large")
SIMILARITIES = ("similar", "different")
MEDIUM_FROM = 50  # images per class; the cuts between "small", "medium" and "large" are choices
LARGE_FROM = 500


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What to do with a pretrained network before training it on new data.

    Attributes:
        name: a short label ("freeze_all_but_head", "fine_tune_all", ...).
        keep: how many pretrained weight layers to reuse, counted from the input; ``None`` means every
            layer below the old head, ``0`` means none (train from scratch).
        cut: True drops every layer above the reused ones and puts the new head right on their output;
            False keeps the architecture and gives those upper layers fresh random weights.
        freeze: True sets the reused layers to ``trainable = False``; False fine-tunes them.
        learning_rate: the Adam learning rate for training the new model.
        reason: why, in one or two sentences, with the source of the advice.
    """

    name: str
    keep: int | None
    cut: bool
    freeze: bool
    learning_rate: float
    reason: str = ""

    def __post_init__(self):
        if self.keep is not None and (not isinstance(self.keep, int) or self.keep < 0):
            raise ValueError(f"keep must be None (all but the head) or an int >= 0, got {self.keep!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")


def scratch():
    """Reuse nothing: the same architecture with random weights and a new head."""
    return Recipe("scratch", keep=0, cut=False, freeze=False, learning_rate=3e-3,
                  reason="No pretrained weights: the baseline every transfer recipe has to beat.")  # fmt: skip


def freeze_all_but_head():
    """Keep every pretrained layer frozen and train only a new head (the network is a fixed feature extractor)."""
    return Recipe("freeze_all_but_head", keep=None, cut=False, freeze=True, learning_rate=3e-3,
                  reason="CS231n notes: the pretrained network as a fixed feature extractor.")  # fmt: skip


def fine_tune_all():
    """Start every layer from the pretrained weights, put on a new head and train everything."""
    return Recipe("fine_tune_all", keep=None, cut=False, freeze=False, learning_rate=1e-3,
                  reason="Every layer keeps learning from its pretrained start, at a smaller rate than "
                         "from scratch so that the first updates do not undo the pretraining.")  # fmt: skip


def linear_on_early(layers=1):
    """The CS231n notes' recipe for small, different data: the first `layers` layers frozen, a linear classifier on their output."""
    if not isinstance(layers, int) or layers < 1:
        raise ValueError(f"linear_on_early needs layers >= 1, got {layers!r}")
    return Recipe("linear_on_early", keep=layers, cut=True, freeze=True, learning_rate=3e-3,
                  reason="CS231n notes: train a linear classifier on activations from earlier in the network.")  # fmt: skip


def cut_early(layers=1):
    """The course's variant: the first `layers` layers frozen, the layers above re-initialized and trained anew."""
    if not isinstance(layers, int) or layers < 1:
        raise ValueError(f"cut_early needs layers >= 1, got {layers!r}")
    return Recipe("cut_early", keep=layers, cut=False, freeze=True, learning_rate=3e-3,
                  reason="Keep the generic low layers, retrain everything above them "
                         "(Zeiler & Fergus 2014; Yosinski et al. 2014).")  # fmt: skip


def transfer_layers(layers, fine_tune):
    """Yosinski et al. (2014): copy the first `layers` layers, frozen (AnB) or fine-tuned (AnB+), re-initialize the rest."""
    if not isinstance(layers, int) or layers < 0:
        raise ValueError(f"transfer_layers needs layers >= 0, got {layers!r}")
    rate = 1e-3 if fine_tune and layers else 3e-3
    label = f"transfer_{layers}" + ("_fine_tuned" if fine_tune else "_frozen")
    return Recipe(label, keep=layers, cut=False, freeze=not fine_tune, learning_rate=rate)


def case(samples_per_class, similarity, medium_from=MEDIUM_FROM):
    """The table's cell, e.g. ("small", "similar"), for images per class and "similar" or "different"."""
    if isinstance(samples_per_class, bool) or not isinstance(samples_per_class, (int, float)) or samples_per_class < 1:
        raise ValueError(f"samples_per_class must be a number of images per class >= 1, got {samples_per_class!r}")
    if not 1 <= medium_from <= LARGE_FROM:
        raise ValueError(f"need 1 <= medium_from <= {LARGE_FROM}, got {medium_from!r}")
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    size = "large" if samples_per_class >= LARGE_FROM else "medium" if samples_per_class >= medium_from else "small"
    return size, similarity


_TABLE = {  # cell -> (recipe, why)
    ("small", "similar"): (freeze_all_but_head, "Small and similar (CS231n notes; Ng): a few images per class "
                           "cannot move many weights without overfitting, and features learned on look-alike "
                           "images already describe the new ones, so only the new head is trained."),
    ("small", "different"): (linear_on_early, "Small and different (CS231n notes): the top layers fit the new "
                             "images poorly and there is too little data to retrain them, so a linear classifier "
                             "is trained on activations from early in the network."),
    ("medium", "similar"): (fine_tune_all, "Medium and similar (between the table's rows; Ng): with more "
                            "labelled images more of the network can be trained safely."),
    ("medium", "different"): (cut_early, "Medium and different (between the table's rows; Ng): enough data to "
                              "train the upper layers anew, not enough to give up the generic low layers."),
    ("large", "similar"): (fine_tune_all, "Large and similar (CS231n notes): with plenty of data, training every "
                           "layer from the pretrained start is unlikely to overfit."),
    ("large", "different"): (scratch, "Large and different (CS231n notes): enough data to train the network on "
                             "its own; the notes add that a pretrained start often helps even so."),
}  # fmt: skip


def recommend(samples_per_class, similarity, medium_from=MEDIUM_FROM):
    """The rule-of-thumb table's `Recipe` for `samples_per_class` images per class and "similar" or "different".

    Below `medium_from` images per class counts as small, `LARGE_FROM` or more as large, in between as
    medium (a row the two-row table lacks: it follows the trend the table implies, more data, more layers
    trained).
    """
    build, why = _TABLE[case(samples_per_class, similarity, medium_from)]
    return dataclasses.replace(build(), reason=why)


def plan(model, recipe):
    """Layer names of `model` that `recipe` reuses, freezes, re-initializes and drops, and where the new head reads.

    `model` is a chain of layers (like ``tlk.models.small_cnn``) whose last layer with weights is its head.
    ``head_reads`` is the layer whose output feeds the new head: the one the old head read, or, for a
    recipe that cuts, the last weight-free layer (pooling) after the reused ones.
    """
    if not isinstance(recipe, Recipe):
        raise ValueError(f"recipe must be a tlkeras.strategy.Recipe, got {type(recipe).__name__}")
    layers = model.layers
    weighted = [layer for layer in layers if layer.weights]
    if len(weighted) < 2:
        raise ValueError(f"model {model.name!r} needs at least two layers with weights (a body and a head)")
    body = weighted[:-1]
    keep = len(body) if recipe.keep is None else recipe.keep
    if keep > len(body):
        raise ValueError(f"recipe keeps {keep} layers but {model.name!r} has only {len(body)} below its head")
    reused, upper = [layer.name for layer in body[:keep]], [layer.name for layer in body[keep:]]
    cut = recipe.cut and keep > 0 and bool(upper)  # with nothing reused, or nothing above, there is nothing to cut
    if cut:
        index = layers.index(body[keep - 1])
        while not layers[index + 1].weights:
            index += 1
    else:
        index = layers.index(weighted[-1]) - 1
    return {
        "reused": reused,
        "frozen": reused if recipe.freeze else [],
        "reinitialized": [] if cut else upper,
        "dropped": (upper if cut else []) + [weighted[-1].name],
        "head_reads": layers[index].name,
    }
