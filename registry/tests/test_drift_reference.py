"""The drift reference saved at training, rebuilt for older versions by
`manage.py drift_reference`, and read by the predict path's drift hook."""

import io

import pyarrow as pa
import pytest
from django.core.management import CommandError, call_command

from monitor.drift.accumulator import DriftAccumulator
from registry import datasets, drift_reference, services
from registry.drift_reference import Reference
from registry.models import DriftReference, ModelVersion

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def penguins_dataset(db):
    from mlframework.core import demo

    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    return dataset


def run(*args) -> str:
    out = io.StringIO()
    call_command("drift_reference", *args, stdout=out)
    return out.getvalue()


def forget_reference(version: ModelVersion, dataset=None) -> ModelVersion:
    """As a version trained before references were saved."""
    DriftReference.objects.filter(version=version).delete()
    version.dataset = dataset
    version.save(update_fields=["dataset"])
    return version


def test_training_saves_the_reference_of_the_training_rows(tiny_classifier):
    version = tiny_classifier
    reference = drift_reference.for_version(version)
    assert reference.ok and reference.rows == version.lineage.train_rows
    assert [f.name for f in reference.features] == version.feature_names()
    island = reference.get("island")
    assert island.kind == "categorical" and island.other == 0
    assert {value for value, _ in island.frequencies} == {
        "Biscoe",
        "Dream",
        "Torgersen",
    }
    bill = reference.get("bill_length_mm")
    assert bill.kind == "numeric" and len(bill.sample) == bill.present
    assert sum(bill.counts) == bill.present and bill.rows == reference.rows
    # The predictions' reference: the held-out rows' predicted classes.
    prediction = reference.prediction
    assert prediction.kind == "categorical"
    assert sum(c for _, c in prediction.frequencies) == version.lineage.test_rows
    assert {value for value, _ in prediction.frequencies} <= set(version.classes)


def test_a_regressors_prediction_reference_is_a_distribution(tiny_regressor):
    reference = drift_reference.for_version(tiny_regressor)
    prediction = reference.prediction
    assert prediction.kind == "numeric" and prediction.std > 0
    assert len(prediction.sample) == tiny_regressor.lineage.test_rows


def test_the_rebuilt_reference_equals_the_one_saved_at_training(
    tiny_classifier, penguins_dataset
):
    saved = drift_reference.for_version(tiny_classifier).to_json()
    version = forget_reference(tiny_classifier, penguins_dataset)
    assert "penguins v1: reference saved (7 features" in run("--missing")
    assert drift_reference.for_version(version).to_json() == saved
    assert run("--missing").strip() == "every ready version has its drift reference"
    assert "1 of 1 reference(s) built" in run("--all")


def test_a_version_whose_dataset_is_gone_gets_a_clear_state(
    tiny_classifier, penguins_frame
):
    version = forget_reference(tiny_classifier)
    out = run("penguins:1")
    assert "penguins v1: no reference: The held-out rows of penguins v1 cannot" in out
    assert "0 of 1 reference(s) built" in out
    version.refresh_from_db()
    reference = drift_reference.for_version(version)
    assert not reference.ok and reference.state.startswith("no reference: ")
    assert run("--missing").strip() == "every ready version has its drift reference"
    # The run's drift report says so instead of failing.
    accumulator = DriftAccumulator.for_version(version)
    frame = penguins_frame.drop(columns=["species"])
    services.predict_batch(version, frame, hooks=[accumulator.hook])
    report = accumulator.report()
    assert report.state == reference.state and report.features == ()


def test_the_command_refuses_what_it_cannot_do(tiny_classifier):
    with pytest.raises(CommandError, match="--missing or --all"):
        run()
    with pytest.raises(CommandError, match="write MODEL:NUMBER or MODEL@ALIAS"):
        run("penguins")
    with pytest.raises(CommandError, match="nope@production"):
        run("nope@production")


def test_the_reference_has_its_own_row_not_the_lineages(tiny_classifier):
    # Tens of kilobytes per feature: never read with every version.
    assert "drift_reference" not in tiny_classifier.lineage.to_json()
    row = DriftReference.objects.get(version=tiny_classifier)
    assert Reference.from_json(row.data).ok


def test_a_version_without_a_saved_reference_says_how_to_build_it(tiny_classifier):
    forget_reference(tiny_classifier, tiny_classifier.dataset)
    reference = drift_reference.for_version(tiny_classifier)
    assert not reference.ok and "manage.py drift_reference --missing" in reference.state


def test_predict_batch_feeds_the_drift_hook(tiny_classifier, penguins_frame):
    version = tiny_classifier
    accumulator = DriftAccumulator.for_version(version)
    frame = penguins_frame.drop(columns=["species"])
    half = len(frame) // 2
    services.predict_batch(version, frame.iloc[:half], hooks=[accumulator.hook])
    batch = pa.RecordBatch.from_pandas(frame.iloc[half:], preserve_index=False)
    services.predict_batch(version, batch, hooks=[accumulator.hook])
    report = accumulator.report()
    assert report.rows == len(frame) and report.state == ""
    # The training data itself: nothing drifts.
    assert report.drifted == [] and not report.prediction_drift
    assert report.prediction.rows == len(frame)
    assert {f.name for f in report.checked} == set(version.feature_names())
    importance = {
        row["feature"]: row["importance"] for row in version.feature_importance
    }
    ranked = sorted(importance, key=lambda name: -importance[name])
    assert [f.name for f in report.features] == ranked
    # A shifted source drifts.
    shifted = DriftAccumulator.for_version(version)
    moved = frame.assign(
        bill_length_mm=frame["bill_length_mm"] + 8, island="Biscoe", year=2030
    )
    services.predict_batch(version, moved, hooks=[shifted.hook])
    found = shifted.report()
    assert {"bill_length_mm", "island", "year"} <= set(found.drifted)
    assert found.get("year").out_of_range_share == 1.0


def test_bin_counts_put_inner_edges_right_and_the_ends_in_the_end_bins():
    import numpy as np

    edges = np.array([0.0, 1.0, 2.0, 3.0])
    ordered = np.array([-5.0, 0.0, 0.5, 1.0, 1.0, 2.5, 3.0, 9.0])
    # [-5, 0, 0.5] | [1, 1] | [2.5, 3, 9]
    assert drift_reference.bin_counts(edges, ordered).tolist() == [3, 2, 3]
    assert drift_reference.bin_counts(edges, np.array([])).tolist() == [0, 0, 0]


def test_quantiles_are_numpys_linear_quantiles():
    import numpy as np

    values = np.sort(np.random.default_rng(2).normal(size=997))
    shares = np.linspace(0, 1, 41)
    assert np.allclose(
        drift_reference.quantiles(values, shares), np.quantile(values, shares)
    )


def test_numbers_keeps_finite_values_and_counts_the_rest():
    import numpy as np
    import pandas as pd

    values, dropped = drift_reference.numbers(
        pd.Series([1.0, np.nan, np.inf, -np.inf, 2.5])
    )
    assert values.tolist() == [1.0, 2.5] and dropped == 3
    values, dropped = drift_reference.numbers(pd.Series(["1", "x", None, "4.5"]))
    assert values.tolist() == [1.0, 4.5] and dropped == 2
    values, _ = drift_reference.numbers(pd.Series([True, False, True]))
    assert values.tolist() == [1.0, 0.0, 1.0]
    values, dropped = drift_reference.numbers(pd.Series(pd.array([3, None], "Int64")))
    assert values.tolist() == [3.0] and dropped == 1


def test_texts_are_the_present_values_as_strings():
    import pandas as pd

    column = pd.Series(pd.Categorical(["a", None, "b"]))
    assert drift_reference.texts(column).tolist() == ["a", "b"]
    assert drift_reference.texts(pd.Series([1, None, 3.5])).tolist() == ["1.0", "3.5"]


def test_numeric_reference_bins_counts_and_moments():
    import numpy as np
    import pandas as pd

    column = pd.Series([*range(1000), None, np.inf], dtype="float64")
    found = drift_reference.numeric_reference("x", column)
    assert (found.kind, found.rows, found.missing) == ("numeric", 1002, 2)
    assert found.edges[0] == 0.0 and found.edges[-1] == 999.0
    assert len(found.edges) == drift_reference.QUANTILES + 1
    assert sum(found.counts) == 1000 and len(found.counts) == len(found.edges) - 1
    assert found.mean == pytest.approx(499.5)
    assert found.std == pytest.approx(np.std(np.arange(1000)))
    assert len(found.sample) == 1000
    assert found.frequencies == ()  # 1000 distinct values: not counted each


def test_numeric_reference_of_few_values_counts_each_most_frequent_first():
    import pandas as pd

    found = drift_reference.numeric_reference("n", pd.Series([2, 1, 2, 3, 2, 1]))
    assert found.frequencies == ((2, 3), (1, 2), (3, 1))
    # Plain Python floats (the column is read as float64), never numpy scalars.
    assert all(type(value) is float for value, _ in found.frequencies)


def test_numeric_reference_of_many_values_keeps_a_bounded_sample(monkeypatch):
    import numpy as np
    import pandas as pd

    monkeypatch.setattr(drift_reference, "SAMPLE_SIZE", 50)
    found = drift_reference.numeric_reference("x", pd.Series(np.arange(1000.0)))
    assert len(found.sample) == 50
    assert list(found.sample) == sorted(found.sample)
    assert found.sample[0] > 0 and found.sample[-1] < 999


def test_a_reference_of_nothing_says_why():
    import pandas as pd

    empty = pd.Series([], dtype="float64")
    missing = pd.Series([None, None], dtype="float64")
    assert drift_reference.numeric_reference("x", empty).state == "no rows"
    assert drift_reference.numeric_reference("x", missing).state == "all missing"
    assert drift_reference.categorical_reference("c", empty).state == "no rows"
    gone = drift_reference.categorical_reference("c", pd.Series([None], dtype=object))
    assert gone.state == "all missing" and gone.missing == 1


def test_categorical_reference_keeps_the_top_and_groups_the_tail(monkeypatch):
    import pandas as pd

    monkeypatch.setattr(drift_reference, "TOP_CATEGORIES", 2)
    monkeypatch.setattr(drift_reference, "TAIL_NAMES", 1)
    column = pd.Series(["b", "a", "a", "b", "c", "d", "d", None])
    found = drift_reference.categorical_reference("c", column)
    # Ties by name: a before b; d (2) before c (1) in the tail.
    assert found.frequencies == (("a", 2), ("b", 2))
    assert found.other == 3 and found.tail == ("d",)
    assert found.missing == 1 and found.rows == 8


def test_column_reference_by_kind():
    import pandas as pd

    column = pd.Series([1, 2, 2])
    assert drift_reference.column_reference("x", "numeric", column).kind == "numeric"
    for kind in ("categorical", "boolean"):
        found = drift_reference.column_reference("x", kind, column)
        assert found.kind == "categorical" and found.frequencies[0] == ("2", 2)
    unchecked = drift_reference.column_reference("t", "text", column)
    assert unchecked.kind == "unchecked"
    assert unchecked.state == "not checked (text feature)" and unchecked.rows == 3
    assert drift_reference.prediction_kind("regression") == "numeric"
    assert drift_reference.prediction_kind("binary") == "categorical"
    assert drift_reference.prediction_kind("multiclass") == "categorical"
