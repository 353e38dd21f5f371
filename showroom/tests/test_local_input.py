"""Showroom input in the request's language: the upload rules
(registry.parsing) for numbers and dates, a date input for date features."""

import pandas as pd
import pytest
from django.urls import reverse
from django.utils import translation

from registry.contracts import Feature, FeatureSchema
from showroom import schema
from showroom.forms import CaseForm, initial_from
from showroom.tests.features import FEATURES, GOOD
from showroom.tests.test_views import form_data, showroom_events

NUMBER = FEATURES.get("bill_length_mm")
DAY = Feature(
    "dia", "datetime64[ns]", "datetime", min="2023-01-01T00:00:00", max="2023-12-30"
)
MOMENT = FEATURES.get("seen")


def _post(**changes):
    data = {k: str(v) for k, v in GOOD.items()}
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "text, expected",
    [("47,5", 47.5), ("1.234,5", 1234.5), ("R$ 1.234,56", 1234.56), ("47.5", 47.5)],
)
def test_pt_br_reads_the_decimal_comma(text, expected):
    with translation.override("pt-br"):
        assert schema.convert(NUMBER, text) == pytest.approx(expected)


@pytest.mark.parametrize("text, expected", [("1,234.5", 1234.5), ("47.5", 47.5)])
def test_en_reads_the_decimal_point_and_thousands_comma(text, expected):
    with translation.override("en"):
        assert schema.convert(NUMBER, text) == pytest.approx(expected)


def test_en_refuses_a_decimal_comma():
    with translation.override("en"), pytest.raises(schema.ValueProblem) as caught:
        schema.convert(NUMBER, "47,5")
    assert str(caught.value) == "expected a number, got '47,5'"


def test_the_form_takes_47_5_in_pt_br_and_names_the_field_in_en():
    with translation.override("pt-br"):
        form = CaseForm(FEATURES, _post(bill_length_mm="47,5"))
        assert form.is_valid(), form.errors
        assert form.cleaned_row["bill_length_mm"] == 47.5
    with translation.override("en"):
        form = CaseForm(FEATURES, _post(bill_length_mm="47,5"))
        assert not form.is_valid()
        assert list(form.errors) == ["bill_length_mm"]
        assert "expected a number" in form.errors["bill_length_mm"][0]


def test_day_first_dates_in_pt_br_and_month_first_in_en():
    with translation.override("pt-br"):
        assert schema.convert(MOMENT, "05/02/2023") == pd.Timestamp("2023-02-05")
    with translation.override("en"):
        assert schema.convert(MOMENT, "05/02/2023") == pd.Timestamp("2023-05-02")
    assert schema.convert(MOMENT, "2023-02-05T14:30") == pd.Timestamp(
        "2023-02-05 14:30"
    )


def test_a_date_feature_gets_a_date_input_and_a_moment_a_datetime_input():
    form = CaseForm(FeatureSchema((DAY, MOMENT)))
    assert 'type="date"' in str(form["dia"])
    assert 'type="datetime-local"' in str(form["seen"])
    initial = initial_from(FeatureSchema((DAY,)), {"dia": "2023-02-05T00:00:00"})
    assert initial == {"dia": "2023-02-05"}


def test_a_bad_date_is_a_form_error_naming_the_field():
    form = CaseForm(FeatureSchema((DAY,)), {"dia": "31/31/2023"})
    assert not form.is_valid()
    assert list(form.errors) == ["dia"]


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"])
@pytest.mark.parametrize(
    "language, bill, expected",
    [("pt-BR", "47,5", 47.5), ("pt-BR", "1.047,5", 1047.5), ("en", "1,047.5", 1047.5)],
)
def test_the_showroom_predicts_numbers_written_in_the_request_s_language(
    analyst_client, tiny_classifier, language, bill, expected
):
    url = reverse("showroom:predict", args=["penguins"])
    response = analyst_client.post(
        url, form_data(bill_length_mm=bill), HTTP_ACCEPT_LANGUAGE=language
    )
    assert response.status_code == 200, response.content
    [event] = showroom_events()
    assert event.data["inputs"][0]["bill_length_mm"] == expected


@pytest.mark.django_db(databases=["default", "events"])
def test_the_showroom_refuses_47_5_in_english_naming_the_field(
    analyst_client, tiny_classifier
):
    url = reverse("showroom:predict", args=["penguins"])
    response = analyst_client.post(
        url, form_data(bill_length_mm="47,5"), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 422
    assert "bill_length_mm: expected a number" in response.content.decode()
    assert showroom_events() == []
