"""Transfer-learning recipes for the four cases (small/large new data x similar/different data).

Seeds 000 and 001 give one table: how much new data you have and how much it looks like the source
data decide what to cut off a pretrained network, what to freeze and what to retrain.
`recommend` returns that table's recipe as a `Recipe`; `plan` says which layers of a given model it
reuses, freezes, re-initializes and drops; `apply` builds the new model.

Every recipe puts a new, randomly initialized softmax head with the new number of classes on top,
because the old head answers the old question (seed 000: "add a new fully connected layer that
matches the number of classes in the new data set; randomize its weights").
"""
import dataclasses

import keras

SIZES = ("small", "large")
SIMILARITIES = ("similar", "different")
DEFAULT_LARGE_FROM = 500  # images per class; "tens" is small, "thousands" is large, the cut in between is a choice
DEFAULT_SIMILAR_FROM = 0.5  # for a numeric similarity score in [-1, 1]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What to do with a pretrained network before training it on new data.

    Attributes:
        name: a short label ("freeze_all_but_head", "fine_tune_all", ...).
        keep: how many pretrained weight layers to reuse, counted from the input; ``None`` means every
            layer below the old head, ``0`` means none (train from scratch).
        cut: True drops every layer above the reused ones and puts the new head right on top of them;
            False keeps the architecture and gives those upper layers fresh random weights.
        freeze: True sets the reused layers to ``trainable = False``; False fine-tunes them.
        learning_rate: the Adam learning rate for training the new model.
        reason: why, in the seeds' words.
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
    return Recipe("scratch", keep=0, cut=False, freeze=False, learning_rate=learning_rate,
                  reason="No pretrained weights: the baseline every transfer recipe must beat.")


def freeze_all_but_head(learning_rate=3e-3):
    """Keep every pretrained layer frozen and train only a new head (the network is a fixed feature extractor)."""
    return Recipe("freeze_all_but_head", keep=None, cut=True, freeze=True, learning_rate=learning_rate,
                  reason="Seed 001: with little data, freeze every layer and train only your own softmax; "
                         "the frozen network is a fixed map from image to feature vector.")


def fine_tune_all(learning_rate=1e-3):
    """Start every layer from the pretrained weights, put on a new head and train everything."""
    return Recipe("fine_tune_all", keep=None, cut=True, freeze=False, learning_rate=learning_rate,
                  reason="Seed 000: with plenty of similar data, initialize from the pretrained weights and "
                         "retrain the whole network; there is enough data to adjust every layer without overfitting.")


def cut_early(layers=1, learning_rate=3e-3):
    """Keep only the first `layers` pretrained layers, frozen, and put a new head right on top of them."""
    if not isinstance(layers, int) or layers < 1:
        raise ValueError(f"cut_early needs layers >= 1, got {layers!r}")
    return Recipe("cut_early", keep=layers, cut=True, freeze=True, learning_rate=learning_rate,
                  reason="Seed 000: early layers hold general features (edges, blobs) that suit many tasks; "
                         "later layers are specific to the source data, so cut them off.")


def transfer_layers(layers, fine_tune, learning_rate=None):
    """Yosinski et al. (2014): copy the first `layers` layers, frozen (AnB) or fine-tuned (AnB+), re-initialize the rest."""
    if not isinstance(layers, int) or layers < 0:
        raise ValueError(f"transfer_layers needs layers >= 0, got {layers!r}")
    rate = learning_rate or (1e-3 if fine_tune and layers else 3e-3)
    label = f"transfer_{layers}" + ("_fine_tuned" if fine_tune else "_frozen")
    return Recipe(label, keep=layers, cut=False, freeze=not fine_tune, learning_rate=rate,
                  reason="Layers above the copied ones keep their place but start from random weights.")


def _size(samples_per_class, large_from):
    if isinstance(samples_per_class, bool) or not isinstance(samples_per_class, (int, float)):
        raise ValueError(f"samples_per_class must be a number of images per class, got {samples_per_class!r}")
    if samples_per_class < 1:
        raise ValueError(f"samples_per_class must be at least 1, got {samples_per_class!r}")
    return "large" if samples_per_class >= large_from else "small"


def _similarity(similarity, similar_from):
    if isinstance(similarity, str):
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES} or a score in [-1, 1], got {similarity!r}")
        return similarity
    if isinstance(similarity, bool) or not isinstance(similarity, (int, float)) or not -1 <= similarity <= 1:
        raise ValueError(f"similarity must be one of {SIMILARITIES} or a score in [-1, 1], got {similarity!r}")
    return "similar" if similarity >= similar_from else "different"


def case(samples_per_class, similarity, large_from=DEFAULT_LARGE_FROM, similar_from=DEFAULT_SIMILAR_FROM):
    """The four-case cell, e.g. ("small", "similar"), for an amount of data and a similarity (label or score)."""
    return _size(samples_per_class, large_from), _similarity(similarity, similar_from)


def recommend(samples_per_class, similarity, large_from=DEFAULT_LARGE_FROM, similar_from=DEFAULT_SIMILAR_FROM,
              early_layers=1):
    """The seeds' recipe for new data with `samples_per_class` images per class and the given `similarity`.

    Args:
        samples_per_class: images per class in the new training set; `large_from` or more counts as large.
        similarity: "similar", "different", or a score in [-1, 1], higher meaning more similar
            (`similar_from` or more counts as similar). The threshold depends on the score: for the linear-probe gain of ``tlk.fourcase.similarity_probe``
            (accuracy points over random features) a value like 0.05 fits better than the default 0.5.
        early_layers: how many layers "cut early" keeps in the small-and-different case.

    Returns:
        A `Recipe`; ``recipe.from_scratch`` is True where the seeds say to train from scratch.
    """
    size, similar = case(samples_per_class, similarity, large_from, similar_from)
    if size == "small" and similar == "similar":
        return dataclasses.replace(freeze_all_but_head(), reason=(
            "Small and similar (seeds 000, 001): cut off the end of the network, add a new randomly "
            "initialized head for the new classes, freeze all pretrained weights and train only the head. "
            "Too few images to retrain many weights without overfitting, and features learned on similar "
            "data already describe the new images."))
    if size == "small":
        return dataclasses.replace(cut_early(early_layers), reason=(
            "Small and different (seed 000): keep only a few pretrained layers near the input, freeze them, "
            "and train a new head on top. Early layers detect general patterns (lines, edges) that transfer; "
            "later layers encode source-specific patterns that would mislead, and there is too little data "
            "to retrain them."))
    if similar == "similar":
        return dataclasses.replace(fine_tune_all(), reason=(
            "Large and similar (seeds 000, 001): replace the head, initialize every other layer from the "
            "pretrained weights and retrain the whole network. With enough data, overfitting is no worry, "
            "and a good starting point trains faster than random weights."))
    return dataclasses.replace(scratch(), reason=(
        "Large and different (seeds 000, 001): train the network from scratch with random weights; with "
        "plenty of data and little similarity the source features have little to offer. Seed 000 adds "
        "that fine-tuning as in the large-and-similar case is a reasonable alternative."))


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
        raise ValueError(f"recipe keeps {keep} layers but {model.name!r} has only {len(body)} below its head "
                         f"({', '.join(layer.name for layer in body)})")
    reused = [layer.name for layer in body[:keep]]
    upper = [layer.name for layer in body[keep:]]
    cut = recipe.cut and keep > 0  # with nothing reused there is nothing to cut down to
    return {
        "reused": reused,
        "frozen": reused if recipe.freeze else [],
        "reinitialized": [] if cut else upper,
        "dropped": (upper if cut else []) + [weighted[-1].name],
        "new": ["head"],
    }


def _fresh_initializer(initializer, seed):
    # A seeded Keras initializer repeats its draw, so a re-initialized layer gets a new seed.
    config = initializer.get_config()
    if "seed" in config:
        config["seed"] = seed
    return initializer.__class__.from_config(config)


def _reinitialize(layer, seed):
    for index, variable in enumerate(layer.weights):
        name = variable.path.split("/")[-1]
        initializer = getattr(layer, f"{name}_initializer", None)
        if initializer is None:
            raise ValueError(f"cannot re-initialize weight {variable.path!r} of layer {layer.name!r}")
        variable.assign(_fresh_initializer(initializer, seed + index)(variable.shape, dtype=variable.dtype))


def _cut_output(model, last_kept):
    # The cut goes after the last reused layer and the weight-free layers (pooling) that follow it.
    layers = model.layers
    index = layers.index(model.get_layer(last_kept))
    while index + 1 < len(layers) and not layers[index + 1].weights and layers[index + 1] is not layers[-1]:
        index += 1
    return layers[index].output


def apply(model, recipe, num_classes, seed=0):
    """Build the new model the recipe describes from a pretrained `model`; `model` itself is left unchanged.

    The pretrained model must be a chain of layers (like ``tlk.models.small_cnn``) whose last layer with
    weights is its head. Returns an uncompiled ``keras.Model`` whose new softmax layer is named ``head``;
    compile it with ``recipe.learning_rate``.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    layout = plan(model, recipe)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    if recipe.cut and layout["reused"]:
        features = _cut_output(clone, layout["reused"][-1])
    else:
        features = _weighted_layers(clone)[-1].input
        for offset, name in enumerate(layout["reinitialized"]):
            _reinitialize(clone.get_layer(name), seed=1000 * seed + 10 * offset + 1)
    if len(features.shape) > 2:
        features = keras.layers.Flatten(name="head_flatten")(features)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="head",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(features)
    new_model = keras.Model(clone.inputs, outputs, name=f"{model.name}_{recipe.name}")
    for name in layout["reused"]:
        new_model.get_layer(name).trainable = not recipe.freeze
    return new_model
