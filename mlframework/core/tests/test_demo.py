import pytest
from django.core.management import call_command

from mlframework.core import demo
from mlframework.lib import odbc


@pytest.fixture
def fresh_demo():
    path = odbc.sqlite_database_path("demo")
    path.unlink(missing_ok=True)
    yield path
    path.unlink(missing_ok=True)


def test_the_demo_loads_penguins_through_the_sqlite_odbc_driver(fresh_demo, capsys):
    call_command("demo", "load")
    assert "loaded 344 penguins" in capsys.readouterr().out
    frame = next(odbc.read_batches("demo", "SELECT * FROM penguins ORDER BY id"))
    frame = frame.to_pandas()
    assert len(frame) == 344
    assert set(frame["species"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert frame["bill_length_mm"].isna().sum() == 2  # NA survives the round trip
    assert frame.loc[0, "body_mass_g"] == 3750


def test_loading_twice_keeps_one_copy(fresh_demo, capsys):
    demo.load()
    call_command("demo", "load")
    assert "already holds" in capsys.readouterr().out
    assert odbc.probe("demo", "SELECT COUNT(*) FROM penguins").value == 344
