"""Transfer-learning recipes: the rule-of-thumb table (how much new data x how similar to the source).

The table, as the CS231n "Transfer Learning" notes and Andrew Ng's deeplearning.ai lecture on transfer
learning present it, decides from two questions what to reuse from a pretrained network, what to freeze
and what to train. `recommend` returns a cell's recipe as a `Recipe`; `plan` names the layers of a given
model it reuses, freezes, re-initializes and drops; `apply` builds the new model.

Every recipe replaces the old output layer: it was trained to answer the source task's question, and
the new task has its own classes, so a new head with freshly drawn weights takes its place.
Introduced in notebook 04.
"""

import dataclasses

import keras

from tlkeras import inits, models

SIZES = ("small", "medium", "large")
SIMILARITIES = ("similar", "different")
DEFAULT_MEDIUM_FROM = 50  # images per class; the cuts between "small", "medium" and "large" are choices
DEFAULT_LARGE_FROM = 500
DEFAULT_SIMILAR_FROM = 0.5  # for a numeric similarity score in [-1, 1]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What to do with a pretrained network before training it on new data.

    Attributes:
        name: a short label ("freeze_all_but_head", "fine_tune_all", ...).
        keep: how many pretrained weight layers to reuse, counted from the input; ``None`` means every
            layer below the old head, ``0`` means none (train from scratch).
        cut: True drops every layer above the reused ones and puts the new head right on top of them;
            False keeps the architecture and gives those upper layers fresh random weights, so every
            recipe ends in the same head on the same layer.
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

    @property
    def from_scratch(self):
        """True when no pretrained weight is reused."""
        return self.keep == 0


def scratch(learning_rate=3e-3):
    """Reuse nothing: the same architecture with random weights and a new head."""
    return Recipe(
        "scratch",
        keep=0,
        cut=False,
        freeze=False,
        learning_rate=learning_rate,
        reason="No pretrained weights: the baseline every transfer recipe has to beat.",
    )


def freeze_all_but_head(learning_rate=3e-3):
    """Keep every pretrained layer frozen and train only a new head (the network is a fixed feature extractor)."""
    return Recipe(
        "freeze_all_but_head",
        keep=None,
        cut=False,
        freeze=True,
        learning_rate=learning_rate,
        reason="The pretrained layers stay fixed and turn each image into a feature vector; only "
        "the new head learns (CS231n notes: the network as a fixed feature extractor).",
    )


def fine_tune_all(learning_rate=1e-3):
    """Start every layer from the pretrained weights, put on a new head and train everything."""
    return Recipe(
        "fine_tune_all",
        keep=None,
        cut=False,
        freeze=False,
        learning_rate=learning_rate,
        reason="Every layer starts from its pretrained weights and keeps learning; a smaller learning "
        "rate than from scratch keeps the first updates from undoing the pretraining.",
    )


def cut_early(layers=1, learning_rate=3e-3, cut=False):
    """Keep only the first `layers` pretrained layers, frozen; everything above them is trained anew.

    With ``cut=False`` (the default) the layers above keep their shape and start from fresh random
    weights, so the model ends in the same head as every other recipe. ``cut=True`` drops them and puts
    the head right on the early feature map (a wide linear classifier on early activations instead).
    """
    if not isinstance(layers, int) or layers < 1:
        raise ValueError(f"cut_early needs layers >= 1, got {layers!r}")
    return Recipe(
        "cut_early",
        keep=layers,
        cut=bool(cut),
        freeze=True,
        learning_rate=learning_rate,
        reason="Low layers respond to simple local patterns that many image tasks share; higher "
        "layers grow specific to the source task (Zeiler & Fergus 2014; Yosinski et al. 2014).",
    )


def transfer_layers(layers, fine_tune, learning_rate=None):
    """Yosinski et al. (2014): copy the first `layers` layers, frozen (AnB) or fine-tuned (AnB+), re-initialize the rest."""
    if not isinstance(layers, int) or layers < 0:
        raise ValueError(f"transfer_layers needs layers >= 0, got {layers!r}")
    rate = learning_rate or (1e-3 if fine_tune and layers else 3e-3)
    label = f"transfer_{layers}" + ("_fine_tuned" if fine_tune else "_frozen")
    return Recipe(
        label,
        keep=layers,
        cut=False,
        freeze=not fine_tune,
        learning_rate=rate,
        reason="Layers above the copied ones keep their place but start from random weights.",
    )


def _size(samples_per_class, medium_from, large_from):
    if isinstance(samples_per_class, bool) or not isinstance(samples_per_class, (int, float)):
        raise ValueError(f"samples_per_class must be a number of images per class, got {samples_per_class!r}")
    if samples_per_class < 1:
        raise ValueError(f"samples_per_class must be at least 1, got {samples_per_class!r}")
    if not 1 <= medium_from <= large_from:
        raise ValueError(f"need 1 <= medium_from <= large_from, got {medium_from!r} and {large_from!r}")
    return "large" if samples_per_class >= large_from else "medium" if samples_per_class >= medium_from else "small"


def _similarity(similarity, similar_from):
    if isinstance(similarity, str):
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES} or a score in [-1, 1], got {similarity!r}")
        return similarity
    if isinstance(similarity, bool) or not isinstance(similarity, (int, float)) or not -1 <= similarity <= 1:
        raise ValueError(f"similarity must be one of {SIMILARITIES} or a score in [-1, 1], got {similarity!r}")
    return "similar" if similarity >= similar_from else "different"


def case(
    samples_per_class,
    similarity,
    medium_from=DEFAULT_MEDIUM_FROM,
    large_from=DEFAULT_LARGE_FROM,
    similar_from=DEFAULT_SIMILAR_FROM,
):
    """The table's cell, e.g. ("small", "similar"), for an amount of data and a similarity (label or score)."""
    return _size(samples_per_class, medium_from, large_from), _similarity(similarity, similar_from)


_REASONS = {
    ("small", "similar"): "Small and similar (CS231n notes; Ng): a few images per class cannot move many "
    "weights without overfitting, and features learned on look-alike images already describe the new ones, "
    "so only the new head is trained.",
    ("small", "different"): "Small and different (CS231n notes): the top layers were shaped by the source "
    "classes and fit the new images poorly, and there is too little data to retrain much; the notes suggest "
    "reading features from lower in the network instead. Here: keep the first layer, frozen, and train what "
    "sits above it.",
    ("medium", "similar"): "Medium and similar (between the table's rows; Ng): with more labelled images more "
    "of the network can be trained safely, so every layer starts pretrained and is fine-tuned with a small "
    "learning rate.",
    ("medium", "different"): "Medium and different (between the table's rows; Ng): enough data to train the "
    "upper layers anew, not enough to give up the generic low layers, which stay frozen.",
    ("large", "similar"): "Large and similar (CS231n notes): with plenty of data, training every layer from the "
    "pretrained start is unlikely to overfit, and that start is closer to a good solution than a random one.",
    ("large", "different"): "Large and different (CS231n notes): enough data to train the network on its own; "
    "the notes add that a pretrained start often helps even so, so fine-tuning all layers is the alternative "
    "to try.",
}


def recommend(
    samples_per_class,
    similarity,
    medium_from=DEFAULT_MEDIUM_FROM,
    large_from=DEFAULT_LARGE_FROM,
    similar_from=DEFAULT_SIMILAR_FROM,
    early_layers=1,
):
    """The rule-of-thumb table's recipe for `samples_per_class` images per class and the given `similarity`.

    Args:
        samples_per_class: images per class in the new training set; below `medium_from` counts as
            small, `large_from` or more as large, in between as medium (a row the two-row table lacks:
            it follows the trend the table implies, more data, more layers trained).
        similarity: "similar", "different", or a score in [-1, 1], higher meaning more similar
            (`similar_from` or more counts as similar). The threshold depends on the score: for the
            linear-probe gain of ``tlk.experiments.similarity_probe`` (accuracy points over random
            features) a value like 0.05 fits better than the default 0.5.
        early_layers: how many layers "cut early" keeps.

    Returns:
        A `Recipe`; ``recipe.from_scratch`` is True where the table says to train from scratch.
    """
    cell = case(samples_per_class, similarity, medium_from, large_from, similar_from)
    recipe = {
        ("small", "similar"): freeze_all_but_head,
        ("small", "different"): lambda: cut_early(early_layers),
        ("medium", "similar"): fine_tune_all,
        ("medium", "different"): lambda: cut_early(early_layers),
        ("large", "similar"): fine_tune_all,
        ("large", "different"): scratch,
    }[cell]()
    return dataclasses.replace(recipe, reason=_REASONS[cell])


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


def plan(model, recipe):
    """Which layers of `model` the recipe reuses, freezes, re-initializes and drops, as lists of layer names."""
    if not isinstance(recipe, Recipe):
        raise ValueError(f"recipe must be a tlkeras.strategy.Recipe, got {type(recipe).__name__}")
    weighted = _weighted_layers(model)
    if len(weighted) < 2:
        raise ValueError(f"model {model.name!r} needs at least two layers with weights (a body and a head)")
    body = weighted[:-1]
    keep = len(body) if recipe.keep is None else recipe.keep
    if keep > len(body):
        raise ValueError(
            f"recipe keeps {keep} layers but {model.name!r} has only {len(body)} below its head "
            f"({', '.join(layer.name for layer in body)})"
        )
    reused = [layer.name for layer in body[:keep]]
    upper = [layer.name for layer in body[keep:]]
    cut = recipe.cut and keep > 0 and bool(upper)  # with nothing reused, or nothing above, there is nothing to cut
    return {
        "reused": reused,
        "frozen": reused if recipe.freeze else [],
        "reinitialized": [] if cut else upper,
        "dropped": (upper if cut else []) + [weighted[-1].name],
        "new": ["head"],
    }


def _cut_point(model, last_kept):
    # The cut goes after the last reused layer and the weight-free layers (pooling) that follow it.
    layers = model.layers
    index = layers.index(model.get_layer(last_kept))
    while index + 1 < len(layers) and not layers[index + 1].weights and layers[index + 1] is not layers[-1]:
        index += 1
    return layers[index].name


def apply(model, recipe, num_classes, seed=0, dropout=0.0):
    """Build the new model the recipe describes from a pretrained `model`; `model` itself is left unchanged.

    The pretrained model must be a chain of layers (like ``tlk.models.small_cnn``) whose last layer with
    weights is its head. The new head is ``tlk.models.new_head`` (named ``head``): it outputs logits (one per
    class; a single one for two classes), so compile with ``from_logits=True`` and ``recipe.learning_rate``.
    Returns an uncompiled ``keras.Model``.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    layout = plan(model, recipe)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    if layout["dropped"][:-1]:
        features = models.submodel(clone, _cut_point(clone, layout["reused"][-1])).output
    else:  # the new head reads what the old one read
        features = clone.layers[clone.layers.index(_weighted_layers(clone)[-1]) - 1].output
        inits.reinitialize([clone.get_layer(name) for name in layout["reinitialized"]], seed=1000 * seed + 1)
    if len(features.shape) > 2:
        features = keras.layers.Flatten(name="head_flatten")(features)
    head = models.new_head(features.shape[1:], num_classes, dropout=dropout, seed=seed, name="head")
    new_model = keras.Model(clone.inputs, head(features), name=f"{model.name}_{recipe.name}")
    for name in layout["reused"]:
        new_model.get_layer(name).trainable = name not in layout["frozen"]
    return new_model
