"""predict_batch, the one way to a prediction, on a real (tiny) AutoGluon model:
Arrow batches and DataFrames in, the same answers out, hooks per batch."""

import pandas as pd
import pyarrow as pa
import pytest

from registry import services
from registry.errors import SchemaError

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(penguins_frame):
    return penguins_frame.drop(columns=["species"]).head(40).reset_index(drop=True)


def test_an_arrow_batch_and_a_frame_give_autogluons_own_answers(tiny_classifier, rows):
    from registry.tests.helpers import as_trained

    batch = pa.RecordBatch.from_pandas(rows, preserve_index=False)
    from_arrow = services.predict_batch(tiny_classifier, batch, probabilities=True)
    from_frame = services.predict_batch(tiny_classifier, rows, probabilities=True)
    labels, proba = as_trained(tiny_classifier).predict_both(rows)
    assert from_arrow.labels.tolist() == from_frame.labels.tolist() == labels.tolist()
    for label in tiny_classifier.classes:
        assert from_arrow.probabilities[label].tolist() == pytest.approx(
            proba[label].tolist(), rel=1e-12, abs=1e-15
        )
    assert from_arrow.rows == 40
    assert list(from_arrow.frame().columns) == [
        "prediction",
        *(f"proba_{c}" for c in tiny_classifier.classes),
    ]


def test_a_table_is_taken_too(tiny_classifier, rows):
    table = pa.Table.from_pandas(rows, preserve_index=False)
    assert services.predict_batch(tiny_classifier, table).rows == 40


def test_text_features_reach_the_model_as_categoricals(tiny_classifier, rows):
    batch = pa.RecordBatch.from_pandas(rows, preserve_index=False)
    features = services.predict_batch(tiny_classifier, batch).features
    assert isinstance(features["island"].dtype, pd.CategoricalDtype)
    assert features["island"].isna().sum() == rows["island"].isna().sum()
    # Numbers are not coded; only the model's columns, in training order.
    assert features["bill_length_mm"].dtype == "float64"
    assert list(features.columns) == tiny_classifier.feature_names()


def test_each_hook_sees_each_batch(tiny_classifier, rows):
    seen = []
    for start in (0, 20):
        services.predict_batch(
            tiny_classifier,
            rows.iloc[start : start + 20],
            hooks=[lambda result: seen.append((result.rows, result.labels[0]))],
        )
    assert [count for count, _ in seen] == [20, 20]
    assert all(label in tiny_classifier.classes for _, label in seen)


def test_a_failing_hook_stops_the_caller(tiny_classifier, rows):
    def hook(result):
        raise RuntimeError("statistics broke")

    with pytest.raises(RuntimeError, match="statistics broke"):
        services.predict_batch(tiny_classifier, rows, hooks=[hook])


@pytest.mark.parametrize("kind", ["arrow", "frame"])
def test_a_missing_column_is_named(tiny_classifier, rows, kind):
    data = rows.drop(columns=["bill_depth_mm"])
    if kind == "arrow":
        data = pa.RecordBatch.from_pandas(data, preserve_index=False)
    with pytest.raises(SchemaError, match="bill_depth_mm") as caught:
        services.predict_batch(tiny_classifier, data)
    assert caught.value.missing == ["bill_depth_mm"]


def test_numbers_given_as_text_are_converted_and_a_bad_one_is_placed(
    tiny_classifier, rows
):
    text = rows.assign(
        bill_length_mm=[None if pd.isna(v) else str(v) for v in rows["bill_length_mm"]]
    )
    batch = pa.RecordBatch.from_pandas(text, preserve_index=False)
    plain = services.predict_batch(tiny_classifier, rows).labels
    assert services.predict_batch(tiny_classifier, batch).labels.tolist() == (
        plain.tolist()
    )
    text.loc[7, "bill_length_mm"] = "long"
    with pytest.raises(SchemaError) as caught:
        services.predict_batch(
            tiny_classifier, pa.RecordBatch.from_pandas(text, preserve_index=False)
        )
    bad = caught.value.bad_value
    assert (bad.row, bad.column, bad.value, bad.expected) == (
        7,
        "bill_length_mm",
        "long",
        "numbers",
    )


def test_an_empty_batch_predicts_nothing(tiny_classifier, rows):
    result = services.predict_batch(tiny_classifier, rows.head(0), probabilities=True)
    assert result.rows == 0
    assert result.frame().columns[0] == "prediction"


def test_a_regressor_gives_values_and_no_probabilities(tiny_regressor, penguins_frame):
    rows = penguins_frame.drop(columns=["body_mass_g"]).head(5)
    result = services.predict_batch(tiny_regressor, rows, probabilities=True)
    assert result.probabilities is None
    assert all(2000 < value < 7000 for value in result.labels)


def test_the_runner_and_the_showroom_predict_only_through_it():
    # Who calls the predictor: registry.services alone, through predict_batch.
    import inspect

    from dispatch import runner
    from showroom import services as showroom
    from showroom import warm

    for module in (runner, showroom, warm):
        source = inspect.getsource(module)
        assert "predict_batch(" in source, module.__name__
        for private in (".predictor.", "predict_both(", "registry.predict(", "_coerce"):
            assert private not in source, (module.__name__, private)
