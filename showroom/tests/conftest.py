import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

PENGUIN = {
    "island": "Biscoe",
    "bill_length_mm": 47.5,
    "bill_depth_mm": 14.2,
    "flipper_length_mm": 217,
    "body_mass_g": 4900,
    "sex": "female",
    "year": 2008,
}


@pytest.fixture
def penguin():
    """A Gentoo-looking penguin, as an API row."""
    return dict(PENGUIN)


def _token_client(user) -> Client:
    token = Token.objects.create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


@pytest.fixture
def analyst_api(analyst):
    return _token_client(analyst)


@pytest.fixture
def viewer_api(viewer):
    return _token_client(viewer)


@pytest.fixture
def viewer_web(viewer):
    """A viewer's browser session, separate from the `client` fixtures."""
    web = Client()
    web.force_login(viewer)
    return web


@pytest.fixture
def demo_table():
    """The demo penguins in the demo datasource (the real SQLite ODBC driver)."""
    from mlframework.core import demo

    demo.load()
    return "penguins"


@pytest.fixture
def case_source(tiny_classifier, demo_table, analyst):
    from showroom.models import CaseSource

    return CaseSource.objects.create(
        model_name=tiny_classifier.model.name,
        datasource="demo",
        query="SELECT id, island, bill_length_mm, bill_depth_mm, flipper_length_mm, "
        "body_mass_g, sex, year FROM penguins ORDER BY id",
        max_rows=5,
        updated_by=analyst,
    )


def showroom_events(**filters):
    from mlframework.events.models import Event

    return list(Event.objects.using("events").filter(source="showroom", **filters))


@pytest.fixture
def sampled_classifier(tiny_classifier, analyst):
    """tiny_classifier with its training file stored as a registry dataset."""
    from mlframework.core import demo
    from registry import datasets

    dataset, _ = datasets.store_file(demo.CSV, user=analyst)
    tiny_classifier.dataset = dataset
    tiny_classifier.save(update_fields=["dataset"])
    return tiny_classifier
