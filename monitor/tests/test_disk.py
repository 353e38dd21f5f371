"""The Monitor's disk panel: what the platform keeps, and a warning when the
filesystem is nearly full."""

import dataclasses

import pytest

from monitor import disk

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture(autouse=True)
def _fresh():
    disk.forget()
    yield
    disk.forget()


def test_a_folder_counts_its_files_but_not_linked_ones(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 24)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert disk.folder_bytes(tmp_path) == 1024 + len(str(tmp_path / "a"))


def test_it_measures_each_part_and_the_filesystem(settings):
    models = settings.CONFIG.path(settings.CONFIG.paths.models)
    models.mkdir(parents=True, exist_ok=True)
    (models / "weights.bin").write_bytes(b"0" * 4096)
    found = disk.measure()
    names = [part.name for part in found.parts]
    assert names == [
        "models",
        "datasets",
        "logs",
        "database default",
        "database events",
    ]
    assert dict((p.name, p.bytes) for p in found.parts)["models"] >= 4096
    assert all(part.bytes is not None for part in found.parts), found.parts
    assert found.total > found.free > 0 and 0 < found.percent <= 100


def test_it_warns_past_the_configured_use(settings):
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        retention=dataclasses.replace(
            settings.CONFIG.retention, disk_warning_percent=1
        ),
    )
    assert disk.measure().warning
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        retention=dataclasses.replace(
            settings.CONFIG.retention, disk_warning_percent=100
        ),
    )
    assert not disk.measure().warning or disk.measure().percent >= 100


def test_figures_are_reused_for_a_minute(monkeypatch):
    first = disk.usage()
    assert disk.usage() is first
    monkeypatch.setattr(disk.time, "time", lambda: first.measured_at + 61)
    assert disk.usage() is not first


def test_the_monitor_page_shows_the_panel_and_the_warning(viewer_client, settings):
    response = viewer_client.get("/monitor/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<h2>Disk</h2>" in body and "database default" in body
    assert "% full" not in body
    disk.forget()
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        retention=dataclasses.replace(
            settings.CONFIG.retention, disk_warning_percent=1
        ),
    )
    assert "% full (warning at 1 %)" in viewer_client.get("/monitor/").content.decode()


def test_a_database_that_cannot_be_measured_is_shown_so(monkeypatch):
    class Connection:
        vendor = "mysql"
        settings_dict = {"NAME": "x"}

        def cursor(self):
            raise RuntimeError("server gone away")

    monkeypatch.setattr(disk, "connections", {"default": Connection()})
    part = disk._database("default")
    assert part.bytes is None and "server gone away" in part.error
