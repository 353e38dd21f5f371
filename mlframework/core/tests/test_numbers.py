"""Numbers in the reader's language: core.numbers and {% load mlf_formats %}."""

from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation

from mlframework.core import numbers


@pytest.fixture
def pt_br():
    with translation.override("pt-br"):
        yield


@pytest.fixture
def en():
    with translation.override("en"):
        yield


def test_grouped_in_portuguese(pt_br):
    assert numbers.grouped(1234.56, 2) == "1.234,56"
    assert numbers.grouped(1234567) == "1.234.567"
    assert numbers.grouped(Decimal("-9876.5")) == "-9.876,5"
    assert numbers.grouped(2.675, 1) == "2,7"  # rounded, not cut off
    assert numbers.grouped(0.125 * 100, 1) == "12,5"


def test_grouped_in_english(en):
    assert numbers.grouped(1234.56, 2) == "1,234.56"
    assert numbers.grouped(1234567) == "1,234,567"


def test_grouped_leaves_what_is_not_a_number(pt_br):
    assert numbers.grouped(None) == ""
    assert numbers.grouped(True) == "True"
    assert numbers.grouped("n/a") == "n/a"
    assert numbers.grouped(float("nan")) == "nan"


def test_significant_keeps_four_digits_in_each_language(pt_br):
    assert numbers.significant(0.912345) == "0,9123"
    assert numbers.significant(1234.5678) == "1.235"
    assert numbers.significant(12.0) == "12"
    assert numbers.significant("0.5") == "0,5"
    with translation.override("en"):
        assert numbers.significant(0.912345) == "0.9123"
        assert numbers.significant(1234.5678) == "1,235"


def test_significant_writes_tiny_and_huge_numbers_with_an_exponent(pt_br):
    assert numbers.significant(0.0000123456) == "1,235e-05"
    assert numbers.significant(123456789.0) == "1,235e+08"
    assert numbers.significant(float("inf")) == "inf"
    assert numbers.significant("text") == "text"


def test_scientific_and_percent(pt_br):
    assert numbers.scientific(1.5e-7) == "1,5e-07"
    assert numbers.percent(0.125) == "12,5%"
    assert numbers.percent(None) == ""
    with translation.override("en"):
        assert numbers.percent(0.125) == "12.5%"


def test_plain_data_values(pt_br):
    assert numbers.plain(181.0) == "181"
    assert numbers.plain(47.5) == "47,5"
    assert numbers.plain(4900.25) == "4900,25"  # a value, not a count: no dots
    assert numbers.plain("Biscoe") == "Biscoe"
    assert numbers.plain(None) == ""


def test_the_template_filters(pt_br):
    template = Template(
        "{% load mlf_formats %}{{ n|grouped }} {{ x|grouped:2 }} "
        "{{ x|significant }} {{ e|scientific }}"
    )
    context = Context({"n": 344000, "x": 1234.5678, "e": 0.00012})
    assert template.render(context) == "344.000 1.234,57 1.235 1,2e-04"


def test_the_registry_and_showroom_filters_follow_the_language(pt_br):
    template = Template(
        "{% load registry_tags showroom %}{{ s|score }} {{ s|number }} "
        "{{ p|percent }} {{ c|cell }} {{ big|number }}"
    )
    context = Context({"s": 0.98765, "p": 0.5, "c": 47.5, "big": 12345678.9})
    assert template.render(context) == "0,9877 0,9877 50,0% 47,5 12.345.679"
