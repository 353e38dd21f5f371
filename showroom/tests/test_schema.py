import pandas as pd
import pytest

from registry.contracts import Feature
from showroom import schema
from showroom.tests.features import FEATURES, GOOD


def by_name(name):
    return next(f for f in FEATURES if f.name == name)


def test_a_good_row_becomes_a_frame_in_training_order_and_types():
    checked = schema.check_rows(FEATURES, [dict(reversed(list(GOOD.items())))])
    assert checked.ok
    frame = checked.frame
    assert list(frame.columns) == [f.name for f in FEATURES]
    assert frame["bill_length_mm"].dtype == "float64"
    assert frame["flipper_length_mm"].dtype == "float64"
    assert frame.loc[0, "island"] == "Biscoe"
    assert frame.loc[0, "tagged"] is True or frame.loc[0, "tagged"] == True  # noqa: E712
    assert frame.loc[0, "seen"] == pd.Timestamp("2009-11-05T10:30")
    assert checked.unseen == [{}] and checked.out_of_range == [{}]


def test_it_names_a_missing_feature_per_row():
    rows = [GOOD, {k: v for k, v in GOOD.items() if k != "island"}]
    checked = schema.check_rows(FEATURES, rows)
    assert not checked.ok
    assert checked.frame is None
    assert checked.errors == {"rows[1].island": ["is missing"]}


def test_a_single_row_is_named_row():
    checked = schema.check_rows(FEATURES, [{}], prefix="row")
    assert set(checked.errors) == {f"row.{f.name}" for f in FEATURES}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("bill_length_mm", "abc", "expected a number, got 'abc'"),
        ("bill_length_mm", True, "expected a number, got a boolean"),
        ("bill_length_mm", [1], "expected a number, got a list"),
        ("bill_length_mm", "inf", "expected a finite number, got 'inf'"),
        ("flipper_length_mm", {"a": 1}, "expected a number, got an object"),
        ("island", ["Biscoe"], "expected a category, got a list"),
        ("tagged", "maybe", "expected true or false, got 'maybe'"),
        ("tagged", 7, "expected true or false, got 7"),
        ("note", {"x": 1}, "expected text, got an object"),
        ("seen", "not a date", "expected a date and time"),
        ("seen", False, "expected a date and time, got a boolean"),
    ],
)
def test_it_names_the_wrong_type(name, value, message):
    checked = schema.check_rows(FEATURES, [{**GOOD, name: value}])
    assert list(checked.errors) == [f"rows[0].{name}"]
    assert checked.errors[f"rows[0].{name}"][0].startswith(message)


def test_a_row_that_is_not_an_object_is_refused():
    checked = schema.check_rows(FEATURES, [GOOD, [1, 2]])
    assert checked.errors == {
        "rows[1]": ["must be an object of feature values, got a list"]
    }


def test_unseen_categories_are_flagged_not_refused():
    checked = schema.check_rows(FEATURES, [GOOD, {**GOOD, "island": "Atlantis"}])
    assert checked.ok
    assert checked.unseen == [{}, {"island": "Atlantis"}]
    assert checked.frame.loc[1, "island"] == "Atlantis"


def test_numbers_outside_the_training_range_are_flagged():
    checked = schema.check_rows(FEATURES, [{**GOOD, "flipper_length_mm": 400}])
    assert checked.ok
    assert checked.out_of_range == [{"flipper_length_mm": 400.0}]


def test_text_numbers_and_booleans_are_converted():
    row = {**GOOD, "bill_length_mm": " 41.5 ", "tagged": "no", "island": " Dream"}
    checked = schema.check_rows(FEATURES, [row])
    assert checked.ok
    assert checked.frame.loc[0, "bill_length_mm"] == 41.5
    assert checked.frame.loc[0, "tagged"] is False or not checked.frame.loc[0, "tagged"]
    assert checked.frame.loc[0, "island"] == "Dream"


def test_missing_values_become_nan_and_keep_float():
    row = {**GOOD, "bill_length_mm": None, "flipper_length_mm": "", "note": None}
    checked = schema.check_rows(FEATURES, [row])
    assert checked.ok
    assert pd.isna(checked.frame.loc[0, "bill_length_mm"])
    assert pd.isna(checked.frame.loc[0, "flipper_length_mm"])
    assert checked.frame.loc[0, "note"] is None


def test_extra_fields_are_listed_as_ignored():
    checked = schema.check_rows(FEATURES, [{**GOOD, "id": 7, "species": "Adelie"}])
    assert checked.ok
    assert checked.ignored == ["id", "species"]


def test_boolean_answers_in_the_spelling_of_training():
    feature = Feature.from_json(
        {"name": "b", "kind": "boolean", "categories": ["yes", "no"]}
    )
    assert schema.convert(feature, True) == "yes"
    assert schema.convert(feature, "false") == "no"
    assert schema.convert(feature, "yes") == "yes"


def test_numeric_categories_match_their_text():
    feature = Feature.from_json(
        {"name": "year", "kind": "categorical", "categories": [2007, 2008]}
    )
    assert schema.convert(feature, "2008") == 2008
    assert not schema.is_unseen(feature, 2008)
    assert schema.is_unseen(feature, 2010)
