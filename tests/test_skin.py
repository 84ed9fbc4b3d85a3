"""Tests for tlkeras.skin: HAM10000 layouts and bad input (synthetic temp dirs), splits, metrics, re-initialization."""
import numpy as np
import pytest
from PIL import Image

from tlkeras import skin

HEADER = "lesion_id,image_id,dx,dx_type,age,sex,localization\n"


def write_jpeg(path, value=(200, 120, 90), size=(30, 20)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, value).save(path, "JPEG")


def write_csv(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def official(tmp_path):
    """Official layout: metadata + two image folders, with an orphan row, a stray file, a corrupt file, a bad dx."""
    rows = [("HAM_1", "ISIC_1", "mel"), ("HAM_1", "ISIC_2", "mel"), ("HAM_2", "ISIC_3", "nv"),
            ("HAM_3", "ISIC_4", "bcc"), ("HAM_4", "ISIC_5", "nv"), ("HAM_5", "ISIC_6", "vasc"),
            ("HAM_6", "ISIC_9", "nv"),  # orphan: no file
            ("HAM_7", "ISIC_10", "tumour")]  # unknown diagnosis
    write_csv(tmp_path / "HAM10000_metadata.csv", HEADER + "".join(f"{l},{i},{d},histo,50.0,male,back\n" for l, i, d in rows))
    for number in (1, 2, 3):
        write_jpeg(tmp_path / "HAM10000_images_part_1" / f"ISIC_{number}.jpg")
    for number in (4, 5, 10):
        write_jpeg(tmp_path / "HAM10000_images_part_2" / f"ISIC_{number}.jpg", (20, 40, 60))
    (tmp_path / "HAM10000_images_part_2" / "ISIC_6.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    write_jpeg(tmp_path / "HAM10000_images_part_2" / "ISIC_77.jpg")  # no metadata row
    return tmp_path


def test_official_layout_skips_and_reports_bad_input(official):
    found = skin.load_ham10000(official, image_size=16, verbose=False)
    assert found.layout == "metadata HAM10000_metadata.csv"
    assert found.image_ids == ["ISIC_1", "ISIC_2", "ISIC_3", "ISIC_4", "ISIC_5"]
    assert found.images.shape == (5, 16, 16, 3) and found.images.dtype == np.uint8
    assert [skin.CLASSES[i] for i in found.labels] == ["mel", "mel", "nv", "bcc", "nv"]
    assert found.lesion_ids[:2] == ["HAM_1", "HAM_1"]
    problems = found.problems
    assert problems["image ids without files"] == ["ISIC_9"]
    assert problems["files without metadata"] == ["ISIC_10.jpg", "ISIC_77.jpg"]  # ISIC_10: its row was bad
    assert len(problems["unreadable images"]) == 1 and "ISIC_6.jpg" in problems["unreadable images"][0]
    assert len(problems["rows without image_id or with unknown dx"]) == 1
    assert "ISIC_9" in skin.describe_problems(problems)
    assert np.all(found.images[3] < 100)  # the dark image from part 2 stayed with its id


def test_missing_required_column_is_a_clear_error(tmp_path):
    write_csv(tmp_path / "HAM10000_metadata.csv", "lesion_id,image_id\nHAM_1,ISIC_1\n")
    write_jpeg(tmp_path / "HAM10000_images_part_1" / "ISIC_1.jpg")
    with pytest.raises(ValueError, match="dx"):
        skin.find_ham10000(tmp_path)


def test_missing_lesion_column_falls_back_to_image_ids(tmp_path):
    write_csv(tmp_path / "labels.csv", "image_id,dx\nISIC_1,mel\nISIC_2,nv\n")
    write_jpeg(tmp_path / "mel" / "ISIC_1.jpg")
    write_jpeg(tmp_path / "nv" / "ISIC_2.jpg")
    found = skin.find_ham10000(tmp_path)
    assert found.lesion_ids == ["ISIC_1", "ISIC_2"]
    assert any("lesion_id" in kind for kind in found.problems)


def test_nothing_usable_raises(tmp_path):
    write_csv(tmp_path / "HAM10000_metadata.csv", HEADER + "HAM_1,ISIC_1,mel,histo,50,male,back\n")
    write_jpeg(tmp_path / "HAM10000_images_part_1" / "ISIC_2.jpg")  # no matching id
    with pytest.raises(ValueError, match="no usable images"):
        skin.find_ham10000(tmp_path)


def test_all_images_unreadable_raises(tmp_path):
    (tmp_path / "mel").mkdir()
    (tmp_path / "mel" / "a.jpg").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="no readable image"):
        skin.load_ham10000(tmp_path, image_size=8, verbose=False)


def test_empty_folder_is_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        skin.find_ham10000(tmp_path)


def test_class_folders_layout(tmp_path):
    for name, count in (("mel", 2), ("nv", 3), ("notaclass", 1)):
        for number in range(count):
            write_jpeg(tmp_path / name / f"{name}_{number}.png")
    found = skin.load_ham10000(tmp_path, image_size=12, verbose=False)
    assert found.layout == "class folders"
    assert found.counts()["mel"] == 2 and found.counts()["nv"] == 3 and len(found) == 5
    assert found.lesion_ids == found.image_ids


def test_mirror_layout_found_through_environment(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror" / "skin_lesion"
    write_csv(mirror / "HAM10000_metadata.csv", HEADER + "HAM_1,ISIC_1,bkl,histo,50,male,back\n"
              "HAM_2,ISIC_2,df,histo,50,male,back\nHAM_3,ISIC_3,nv,histo,50,male,back\n")
    write_csv(mirror / "ham10000_224" / "labels.csv", HEADER + "HAM_1,ISIC_1,bkl,histo,50,male,back\n"
              "HAM_2,ISIC_2,df,histo,50,male,back\n")
    write_jpeg(mirror / "ham10000_224" / "bkl" / "ISIC_1.jpg")
    write_jpeg(mirror / "ham10000_224" / "df" / "ISIC_2.jpg")
    monkeypatch.setenv("TLKERAS_MIRROR", str(tmp_path / "mirror"))
    found = skin.find_ham10000()
    assert found.layout == "metadata labels.csv" and found.source.endswith("ham10000_224")
    assert found.image_ids == ["ISIC_1", "ISIC_2"] and not found.problems
    assert skin.official_class_counts() == {"akiec": 0, "bcc": 0, "bkl": 1, "df": 1, "mel": 0, "nv": 1, "vasc": 0}


def test_limit_per_class_keeps_whole_lesions():
    labels = np.array([0] * 6 + [1] * 2)
    lesions = ["a", "a", "b", "c", "c", "d", "e", "f"]
    keep = skin.limit_per_class(labels, lesions, 3, seed=0)
    kept_lesions = [lesions[i] for i in keep]
    for lesion in set(kept_lesions):
        assert kept_lesions.count(lesion) == lesions.count(lesion)
    assert np.sum(labels[keep] == 1) == 2


def test_split_by_lesion_groups_stratifies_and_is_seeded():
    rng = np.random.default_rng(0)
    lesion_ids, labels = [], []
    for lesion in range(300):
        cls = lesion % 3
        for _ in range(rng.integers(1, 4)):
            lesion_ids.append(f"L{lesion}")
            labels.append(cls)
    labels = np.array(labels)
    parts = skin.split_by_lesion(lesion_ids, labels, (0.6, 0.2, 0.2), seed=1)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(labels)))
    groups = [{lesion_ids[i] for i in part} for part in parts]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    for cls in range(3):
        shares = [np.mean(labels[part] == cls) for part in parts]
        assert max(shares) - min(shares) < 0.08
    assert abs(len(parts[0]) / len(labels) - 0.6) < 0.05
    again = skin.split_by_lesion(lesion_ids, labels, (0.6, 0.2, 0.2), seed=1)
    other = skin.split_by_lesion(lesion_ids, labels, (0.6, 0.2, 0.2), seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    assert not np.array_equal(parts[2], other[2])
    with pytest.raises(ValueError):
        skin.split_by_lesion(lesion_ids, labels, (0.5, 0.2))
    with pytest.raises(ValueError):
        skin.split_by_lesion(lesion_ids[:-1], labels)


# ---------------------------------------------------------------- metrics against hand-computed values

def test_confusion_sensitivity_specificity_by_hand():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    matrix = skin.confusion_matrix(y_true, y_pred, 3)
    assert matrix.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    sensitivity, specificity = skin.sensitivity_specificity(y_true, y_pred, 3)
    np.testing.assert_allclose(sensitivity, [2 / 3, 1 / 2, 1.0])
    np.testing.assert_allclose(specificity, [3 / 3, 3 / 4, 4 / 5])
    sensitivity, _ = skin.sensitivity_specificity(y_true, y_pred, 4)
    assert np.isnan(sensitivity[3])


def test_roc_auc_and_curve_by_hand():
    y = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    assert skin.roc_auc(y, scores) == pytest.approx(0.75)  # 3 of the 4 positive/negative pairs are ordered
    fpr, tpr = skin.roc_curve(y, scores)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    assert np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2) == pytest.approx(0.75)
    assert skin.roc_auc([0, 1, 1], [0.5, 0.5, 0.9]) == pytest.approx(0.75)  # a tie counts one half
    fpr, tpr = skin.roc_curve([0, 1], [0.5, 0.5])
    np.testing.assert_allclose(fpr, [0, 1]) and np.testing.assert_allclose(tpr, [0, 1])
    assert skin.roc_auc([1, 1], [0.2, 0.3]) != skin.roc_auc([1, 1], [0.2, 0.3])  # NaN with one class
    with pytest.raises(ValueError):
        skin.roc_curve([1, 1], [0.2, 0.3])


def test_one_vs_rest_and_malignant_report():
    classes = skin.CLASSES
    y = np.array([classes.index(name) for name in ("mel", "nv", "bcc", "nv")])
    probs = np.full((4, 7), 0.02)
    probs[0, classes.index("mel")] = 0.88  # confident and right
    probs[1, classes.index("nv")] = 0.88
    probs[2, classes.index("nv")] = 0.88  # a bcc called nv
    probs[3, classes.index("mel")] = 0.88  # a nevus called melanoma
    np.testing.assert_allclose(skin.malignant_score(probs), [0.92, 0.06, 0.06, 0.92])
    assert skin.is_malignant(y).tolist() == [True, False, True, False]
    aucs = skin.one_vs_rest_auc(y, probs)
    assert aucs[classes.index("mel")] == pytest.approx(5 / 6)
    assert aucs[classes.index("nv")] == pytest.approx(0.5)
    assert np.isnan(aucs[classes.index("df")])
    report = skin.clinical_report(y, probs)
    assert report["malignant_auc"] == pytest.approx(0.5)
    assert report["accuracy"] == pytest.approx(0.5)
    rows = {row["diagnosis"]: row for row in report["rows"]}
    assert rows["mel"]["sensitivity"] == 1.0 and rows["mel"]["specificity"] == pytest.approx(2 / 3)
    assert rows["bcc"]["sensitivity"] == 0.0 and rows["nv"]["sensitivity"] == 0.5
    assert report["balanced_accuracy"] == pytest.approx(0.5)
    assert report["macro_auc"] == pytest.approx(np.mean([aucs[i] for i in (1, 4, 5)]))


def test_class_weights_and_sampling():
    labels = np.array([0, 0, 0, 1])
    weights = skin.class_weights(labels, num_classes=3)
    assert weights == pytest.approx({0: 4 / 6, 1: 2.0, 2: 0.0})
    index = skin.balanced_indices(np.array([0] * 10 + [1] * 2), seed=0)
    assert np.bincount(np.array([0] * 10 + [1] * 2)[index]).tolist() == [10, 10]
    labels = np.array([0] * 100 + [1] * 100 + [2] * 5)
    chosen = skin.subsample_to_proportions(labels, [0.8, 0.2, 0.0], seed=0)
    assert np.bincount(labels[chosen], minlength=3).tolist() == [100, 25, 0]
    chosen = skin.subsample_to_proportions(labels, {"akiec": 0.5, "bcc": 0.45, "bkl": 0.05})
    assert np.bincount(labels[chosen], minlength=3).tolist() == [50, 45, 5]


# ---------------------------------------------------------------- re-initialization and modality transfer

def small_net(channels=3):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, channels))
    hidden = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv")(inputs)
    hidden = keras.layers.BatchNormalization(name="bn")(hidden)
    hidden = keras.layers.ReLU()(hidden)
    hidden = keras.layers.Conv2D(32, 3, name="conv_2")(hidden)
    outputs = keras.layers.GlobalAveragePooling2D()(hidden)
    model = keras.Model(inputs, outputs)
    for variable in model.weights:  # "pretrained": shifted, scaled values unlike any default initializer
        rng = np.random.default_rng(len(variable.path))
        variable.assign(rng.normal(0.3, 0.05, variable.shape).astype("float32"))
    return model


@pytest.mark.slow
def test_reinitialize_random_and_mean_var():
    model = small_net()
    original = [w.copy() for w in model.get_weights()]
    random = skin.reinitialize(model, "random", seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), original))  # input untouched
    kernel = random.get_layer("conv_2").kernel.numpy()
    assert abs(kernel.mean()) < 0.02 and kernel.std() < 0.2  # glorot: centred, not the "pretrained" 0.3
    assert np.all(random.get_layer("bn").gamma.numpy() == 1.0)
    again = skin.reinitialize(model, "random", seed=0)
    assert np.array_equal(again.get_layer("conv_2").kernel.numpy(), kernel)
    mean_var = skin.reinitialize(model, "mean_var", seed=0)
    pairs = list(zip(skin.layer_statistics(model, kernels_only=True), skin.layer_statistics(mean_var, kernels_only=True)))
    assert [row["weight"] for row, _ in pairs] == ["kernel", "kernel"]
    for before, after in pairs:
        error = before["std"] / np.sqrt(before["size"])  # standard error of a sample mean
        assert after["mean"] == pytest.approx(before["mean"], abs=5 * error)
        assert after["std"] == pytest.approx(before["std"], rel=5 / np.sqrt(before["size"]))
    assert not np.array_equal(mean_var.get_layer("conv_2").kernel.numpy(), model.get_layer("conv_2").kernel.numpy())
    assert np.all(mean_var.get_layer("bn").moving_variance.numpy() == 1.0)  # statistics reset, not sampled
    assert np.all(mean_var.get_layer("bn").gamma.numpy() == 1.0)  # 1-D parameters keep their defaults
    assert np.all(mean_var.get_layer("conv_2").bias.numpy() == 0.0)
    with pytest.raises(ValueError):
        skin.reinitialize(model, "zeros")


@pytest.mark.slow
def test_recalibrate_batchnorm_matches_input_statistics():
    import keras

    model = small_net()
    images = np.random.default_rng(0).normal(2.0, 3.0, (40, 8, 8, 3)).astype("float32")
    skin.recalibrate_batchnorm(model, images, batch_size=16)
    conv_out = keras.Model(model.input, model.get_layer("conv").output).predict(images, verbose=0)
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), conv_out.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), conv_out.var(axis=(0, 1, 2)), rtol=1e-3)


@pytest.mark.slow
def test_single_channel_model_equals_copied_gray():
    model = small_net()
    rgb = np.random.default_rng(1).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    gray = skin.to_grayscale(rgb)
    assert gray.shape == (4, 8, 8, 1)
    assert skin.to_grayscale(np.array([[[[255, 0, 0]]]]))[0, 0, 0, 0] == pytest.approx(0.299 * 255)
    one = skin.single_channel_model(model)
    assert one.input_shape == (None, 8, 8, 1) and one.get_layer("conv").kernel.shape == (3, 3, 1, 16)
    copied = model.predict(np.repeat(gray, 3, axis=-1), verbose=0)
    np.testing.assert_allclose(one.predict(gray, verbose=0), copied, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError):
        skin.first_conv(one)


@pytest.mark.slow
def test_reset_optimizer_makes_a_second_run_identical():
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    x, y = np.random.default_rng(0).random((64, 4)), np.random.default_rng(1).random((64, 2))
    start = model.get_weights()
    keras.utils.set_random_seed(0)
    model.fit(x, y, epochs=2, verbose=0)
    first = model.get_weights()
    model.set_weights(start)
    skin.reset_optimizer(model.optimizer)
    assert int(model.optimizer.iterations) == 0 and float(model.optimizer.learning_rate) == pytest.approx(1e-2)
    keras.utils.set_random_seed(0)
    model.fit(x, y, epochs=2, verbose=0)
    assert all(np.allclose(a, b) for a, b in zip(first, model.get_weights()))
