import pytest
from django import forms

from showroom.forms import CaseForm, VersionForm, initial_from
from showroom.tests.features import FEATURES, GOOD


def post_data(**changes):
    data = {k: str(v) for k, v in GOOD.items()}
    data.update(changes)
    return data


def test_it_builds_a_field_per_feature_in_training_order():
    form = CaseForm(FEATURES)
    assert list(form.fields) == [f.name for f in FEATURES]


def test_numbers_show_their_training_range():
    field = CaseForm(FEATURES).fields["bill_length_mm"]
    # Text with a decimal keyboard: a number input refuses "47,5" (pt-BR).
    assert isinstance(field.widget, forms.TextInput)
    assert field.widget.attrs["inputmode"] == "decimal"
    assert field.help_text == "training range 32.1 to 59.6, mean 43.9"
    assert "32.1 to 59.6" in str(CaseForm(FEATURES)["bill_length_mm"])


def test_categories_are_choices():
    field = CaseForm(FEATURES).fields["island"]
    assert isinstance(field, forms.ChoiceField)
    assert [value for value, _ in field.choices] == ["", "Biscoe", "Dream", "Torgersen"]


def test_booleans_are_true_or_false_choices():
    field = CaseForm(FEATURES).fields["tagged"]
    assert [value for value, _ in field.choices] == ["", "True", "False"]


def test_text_is_free_text_and_dates_are_datetime_inputs():
    form = CaseForm(FEATURES)
    assert isinstance(form.fields["note"].widget, forms.TextInput)
    assert 'type="datetime-local"' in str(form["seen"])


def test_features_with_training_gaps_may_be_left_blank():
    form = CaseForm(FEATURES)
    assert not form.fields["bill_length_mm"].required  # 2 missing in training
    assert not form.fields["note"].required
    assert form.fields["flipper_length_mm"].required
    assert form.fields["island"].required


def test_a_good_case_is_converted():
    form = CaseForm(FEATURES, post_data(bill_length_mm="", tagged="True"))
    assert form.is_valid(), form.errors
    row = form.as_row()
    assert row["bill_length_mm"] is None
    assert row["flipper_length_mm"] == 215.0
    assert row["tagged"] is True
    assert str(row["seen"]) == "2009-11-05 10:30:00"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("bill_length_mm", "abc", "expected a number, got 'abc'"),
        ("flipper_length_mm", "", "This field is required."),
        ("flipper_length_mm", "1e999", "expected a finite number"),
        ("island", "Atlantis", "Select a valid choice."),
        ("island", "", "This field is required."),
        ("tagged", "perhaps", "Select a valid choice."),
        ("seen", "yesterday", "expected a date and time"),
        ("seen", "", "This field is required."),
    ],
)
def test_it_refuses_bad_input_per_field(name, value, message):
    form = CaseForm(FEATURES, post_data(**{name: value}))
    assert not form.is_valid()
    assert list(form.errors) == [name]
    assert form.errors[name][0].startswith(message)


def test_a_listed_case_fills_the_form():
    initial = initial_from(
        FEATURES,
        {
            "bill_length_mm": 39.1,
            "flipper_length_mm": 181.0,
            "island": "Torgersen",
            "seen": "2007-11-11 09:00:00",
            "note": None,
            "id": 3,
        },
    )
    assert initial == {
        "bill_length_mm": "39.1",
        "flipper_length_mm": "181",
        "island": "Torgersen",
        "seen": "2007-11-11T09:00",
    }


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("", "production"), ("3", 3), ("v4", 4), ("staging", "staging")],
)
def test_the_version_is_a_number_or_an_alias(ref, expected):
    form = VersionForm({"ref": ref})
    assert form.is_valid()
    assert form.cleaned_data["ref"] == expected


def test_a_malformed_version_is_refused():
    form = VersionForm({"ref": "drop table;"})
    assert not form.is_valid()
    assert "version number" in form.errors["ref"][0]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(181.0, "181"), (39.1, "39.1"), (None, ""), ("Dream", "Dream"), (2007, "2007")],
)
def test_listed_values_are_shown_plainly(value, shown):
    from showroom.templatetags.showroom import cell

    assert cell(value) == shown
