"""The lleaves adapter's pure parts: the rows that probe a booster, the
difference measured between two answers, and the refusals of bad code."""

from importlib import metadata

import lightgbm
import numpy as np
import pandas as pd
import pytest

from registry import compiled as native


def _booster(features, target, *, rounds=6, params=None) -> lightgbm.Booster:
    return lightgbm.train(
        {
            "objective": "regression",
            "num_leaves": 5,
            "verbose": -1,
            "min_data_per_group": 5,
            **(params or {}),
        },
        lightgbm.Dataset(features, target),
        num_boost_round=rounds,
    )


@pytest.fixture(scope="module")
def numeric_booster():
    random = np.random.default_rng(3)
    features = pd.DataFrame(
        {"a": random.normal(size=300), "b": random.uniform(0, 10, size=300)}
    )
    return _booster(features, features["a"] * 2 + features["b"])


@pytest.fixture(scope="module")
def categorical_booster():
    random = np.random.default_rng(4)
    features = pd.DataFrame(
        {
            "x": random.normal(size=300),
            "c": pd.Categorical(random.choice(["p", "q", "r"], size=300)),
        }
    )
    target = features["x"] + (features["c"] == "q") * 4
    return _booster(features, target)


def test_largest_difference_is_the_largest_absolute_gap():
    expected = np.array([1.0, 2.0, 3.0])
    actual = np.array([1.0, 2.5, 2.0])
    assert native.largest_difference(expected, actual) == 1.0
    assert native.largest_difference(expected, expected) == 0.0


def test_largest_difference_counts_missing_on_both_sides_as_equal():
    expected = np.array([np.nan, 1.0])
    assert native.largest_difference(expected, np.array([np.nan, 1.25])) == 0.25


def test_largest_difference_of_missing_on_one_side_is_infinite():
    expected = np.array([np.nan, 1.0])
    assert native.largest_difference(expected, np.array([0.0, 1.0])) == np.inf
    assert native.largest_difference(np.array([0.0]), np.array([np.nan])) == np.inf


def test_largest_difference_of_nothing_is_zero():
    assert native.largest_difference(np.array([]), np.array([])) == 0.0


def test_largest_difference_compares_classes_column_by_column():
    expected = np.array([[0.2, 0.8], [0.5, 0.5]])
    actual = np.array([[0.2, 0.8], [0.5, 0.4]])
    assert native.largest_difference(expected, actual) == pytest.approx(0.1)


def test_largest_difference_refuses_answers_of_another_shape():
    with pytest.raises(native.CompileError, match=r"shape \(3,\), LightGBM in \(2,\)"):
        native.largest_difference(np.zeros(2), np.zeros(3))
    with pytest.raises(native.CompileError, match="shape"):
        native.largest_difference(np.zeros((4, 3)), np.zeros(12))


def test_probe_rows_have_the_shape_asked_for(numeric_booster):
    rows = native.probe_rows(numeric_booster, rows=100)
    assert rows.shape == (100, 2) and rows.dtype == np.float64


def test_probe_rows_are_the_same_for_the_same_seed_only(numeric_booster):
    first = native.probe_rows(numeric_booster, rows=200, seed=5)
    again = native.probe_rows(numeric_booster, rows=200, seed=5)
    other = native.probe_rows(numeric_booster, rows=200, seed=6)
    assert np.array_equal(first, again, equal_nan=True)
    assert not np.array_equal(first, other, equal_nan=True)


def test_probe_rows_include_the_extremes_and_zero(numeric_booster):
    rows = native.probe_rows(numeric_booster)
    for feature in range(rows.shape[1]):
        column = rows[:, feature]
        assert {-1e300, 0.0, 1e300} <= set(column[~np.isnan(column)])


def test_probe_rows_draw_only_thresholds_their_neighbours_and_extremes(
    numeric_booster,
):
    thresholds = set()
    for tree in numeric_booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                thresholds.add(float(node["threshold"]))
                stack += [node["left_child"], node["right_child"]]
    below = {np.nextafter(t, -np.inf) for t in thresholds}
    above = {np.nextafter(t, np.inf) for t in thresholds}
    allowed = thresholds | below | above | {-1e300, 0.0, 1e300}
    rows = native.probe_rows(numeric_booster)
    assert set(rows[~np.isnan(rows)]) <= allowed
    # Both sides of each threshold are drawn (4096 rows, a few dozen values).
    assert below <= set(rows.ravel())


def test_probe_rows_of_a_categorical_feature_are_every_code_one_more_and_missing(
    categorical_booster,
):
    rows = native.probe_rows(categorical_booster)
    codes = rows[:, 1]
    seen = set(codes[~np.isnan(codes)])
    assert all(float(code).is_integer() for code in seen)
    top = 0
    for tree in categorical_booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                if node["decision_type"] == "==":
                    top = max(top, *map(int, str(node["threshold"]).split("||")))
                stack += [node["left_child"], node["right_child"]]
    assert seen == {float(v) for v in range(top + 2)}
    assert np.isnan(codes).any()


def test_compiled_code_agrees_with_lightgbm_on_the_probes(tmp_path, numeric_booster):
    code = native.compile_booster(
        numeric_booster.model_to_string(), tmp_path / "m.txt", tmp_path / "m.o"
    )
    assert code.num_feature == 2
    assert code.num_trees == numeric_booster.num_trees()
    rows = native.probe_rows(numeric_booster, rows=500)
    assert (
        native.largest_difference(numeric_booster.predict(rows), code.predict(rows))
        <= native.TOLERANCE
    )
    # A one-dimensional array is refused naming the shape.
    with pytest.raises(native.CompileError, match=r"expects 2 features.*\(2,\)"):
        code.predict(rows[0])


def test_compiling_again_replaces_the_object_file(tmp_path, numeric_booster):
    stale = tmp_path / "m.o"
    stale.write_bytes(b"not machine code")
    code = native.compile_booster(
        numeric_booster.model_to_string(), tmp_path / "m.txt", stale
    )
    assert stale.read_bytes() != b"not machine code"
    assert code.num_trees == numeric_booster.num_trees()


def test_it_refuses_to_compile_text_that_is_no_booster(tmp_path):
    with pytest.raises(native.CompileError, match="lleaves could not compile"):
        native.compile_booster("not a model", tmp_path / "m.txt", tmp_path / "m.o")


def test_it_refuses_to_load_code_without_its_object_file(tmp_path, numeric_booster):
    text = tmp_path / "m.txt"
    text.write_text(numeric_booster.model_to_string())
    with pytest.raises(native.CompileError, match=r"^m\.o is missing\.$"):
        native.load(text, tmp_path / "m.o")


def test_target_names_this_cpu_and_the_compilers_versions():
    target = native.target()
    assert set(target) == {"cpu", "cpu_features", "lleaves", "llvmlite"}
    assert target["cpu"]
    assert target["lleaves"] == metadata.version("lleaves")
    assert target["llvmlite"] == metadata.version("llvmlite")
    assert native.target() == target  # the same machine, the same target
