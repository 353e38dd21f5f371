"""A Showroom prediction's event holds its inputs once, and within the cap."""

import json

import pytest

from mlframework.events.log import DATA_LIMIT
from showroom.tests.conftest import showroom_events

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def test_a_megabyte_input_is_stored_once_and_cut(analyst_api, tiny_classifier, penguin):
    penguin["island"] = "A" * 1_000_000
    response = analyst_api.post(
        "/api/showroom/predict/",
        {"model": "penguins", "row": penguin},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content[:300]
    [event] = showroom_events()
    assert len(json.dumps(event.data)) <= DATA_LIMIT
    assert event.data["_truncated"] is True
    assert event.data["inputs"][0]["island"].endswith("[cut: 1000000 characters]")
    assert event.data["unseen"] == [["island"]]
    assert event.data["outputs"][0]["prediction"] in {"Adelie", "Chinstrap", "Gentoo"}
