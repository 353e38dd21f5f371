"""The cron adapter against the real crontab (python-crontab, `crontab -`)."""

import subprocess

import pytest
from django.conf import settings

from dispatch import crontab
from dispatch.models import Dispatch
from mlframework.lib import crontab as cron_adapter

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def _crontab_text() -> str:
    result = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else ""


@pytest.fixture
def foreign_line():
    """A line the platform does not own; it must survive every operation."""
    line = f"17 3 * * * /bin/true # not-ours-{settings.CONFIG.cron.tag}"
    subprocess.run(
        ["crontab", "-"], input=_crontab_text() + line + "\n", text=True, check=True
    )
    yield line
    remaining = [
        row for row in _crontab_text().splitlines() if row.strip() != line.strip()
    ]
    subprocess.run(
        ["crontab", "-"], input="\n".join(remaining) + "\n", text=True, check=True
    )


def test_line_for_carries_only_ids_and_absolute_paths(make_dispatch):
    dispatch = make_dispatch(cron="*/5 * * * *")
    line = crontab.line_for(dispatch)
    assert line.startswith("*/5 * * * * cd /")
    assert f"scripts/dispatch.py {dispatch.pk} " in line
    assert line.endswith(f"# {settings.CONFIG.cron.tag}:dispatch:{dispatch.pk}")
    assert f"dispatch-{dispatch.pk}.log 2>&1" in line
    assert "PWD" not in line and "apppass" not in line
    assert crontab.python().startswith("/")


def test_install_writes_one_line_and_remove_takes_it_away(make_dispatch, foreign_line):
    dispatch = make_dispatch(enabled=True)
    assert crontab.install(dispatch) is True
    assert crontab.install(dispatch) is False  # already right: no rewrite
    text = _crontab_text()
    assert text.count(f"{crontab.tag()}:dispatch:{dispatch.pk}\n") == 1
    assert crontab.line_for(dispatch) in text
    assert crontab.managed_entries()[dispatch.pk] == crontab.line_for(dispatch)
    assert crontab.remove(dispatch.pk) is True
    assert crontab.remove(dispatch.pk) is False
    text = _crontab_text()
    assert f"{crontab.tag()}:dispatch:{dispatch.pk}" not in text
    assert foreign_line in text


@pytest.mark.parametrize("cron", ["0 * * * *", "0 0 * * *", "0 0 * * 0", "0 0 1 1 *"])
def test_schedules_cron_writes_in_short_form_install(make_dispatch, cron):
    # python-crontab writes these as @hourly, @daily, @weekly and @yearly.
    dispatch = make_dispatch(enabled=True, cron=cron)
    assert crontab.install(dispatch) is True
    try:
        assert crontab.entry_state(dispatch) == "ok"
        assert crontab.install(dispatch) is False
        assert crontab.line_for(dispatch).startswith("@")
    finally:
        crontab.remove(dispatch.pk)


def test_entry_state_tells_ok_missing_mismatch_unexpected(make_dispatch):
    dispatch = make_dispatch(enabled=True)
    assert crontab.entry_state(dispatch) == "missing"
    crontab.install(dispatch)
    assert crontab.entry_state(dispatch) == "ok"
    dispatch.cron = "0 * * * *"
    dispatch.save()
    assert crontab.entry_state(dispatch) == "mismatch"
    dispatch.enabled = False
    assert crontab.entry_state(dispatch) == "unexpected"
    crontab.remove(dispatch.pk)
    assert crontab.entry_state(dispatch) == "ok"


def test_sync_adds_removes_and_fixes_but_spares_foreign_lines(
    make_dispatch, foreign_line
):
    enabled = make_dispatch(enabled=True)
    changed = make_dispatch(enabled=True)
    crontab.install(changed)
    changed.cron = "30 2 * * *"
    changed.save()
    gone = make_dispatch(enabled=True)
    crontab.install(gone)
    gone.enabled = False
    gone.save()
    result = crontab.sync()
    assert result.added == [enabled.pk]
    assert result.fixed == [changed.pk]
    assert result.removed == [gone.pk]
    entries = crontab.managed_entries()
    assert set(entries) == {enabled.pk, changed.pk}
    assert entries[changed.pk].startswith("30 2 * * * ")
    assert foreign_line in _crontab_text()
    again = crontab.sync()
    assert (again.added, again.removed, again.fixed) == ([], [], [])


def test_sync_removes_lines_of_deleted_dispatches(make_dispatch):
    dispatch = make_dispatch(enabled=True)
    crontab.install(dispatch)
    pk = dispatch.pk
    dispatch.delete()
    assert crontab.sync().removed == [pk]
    assert pk not in crontab.managed_entries()


def test_lines_of_another_installation_are_never_touched(make_dispatch, settings):
    dispatch = make_dispatch(enabled=True)
    crontab.install(dispatch)
    other = settings.CONFIG.cron.tag
    import dataclasses

    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        cron=dataclasses.replace(settings.CONFIG.cron, tag=f"{other}-other"),
    )
    assert crontab.managed_entries() == {}
    assert crontab.remove(dispatch.pk) is False
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG, cron=dataclasses.replace(settings.CONFIG.cron, tag=other)
    )
    assert dispatch.pk in crontab.managed_entries()


def test_a_timezone_shifts_the_hours_for_the_cron_daemon(make_dispatch):
    dispatch = make_dispatch(cron="0 6 * * *", timezone="America/Sao_Paulo")
    # Sao Paulo is UTC-3 all year (no daylight saving since 2019).
    assert crontab.schedule_for(dispatch) == "0 9 * * *"
    dispatch.cron = "*/5 * * * *"
    assert crontab.schedule_for(dispatch) == "*/5 * * * *"


def test_an_untranslatable_timezone_is_a_clear_error(make_dispatch):
    dispatch = make_dispatch(cron="0 22 * * 1", timezone="America/Sao_Paulo")
    with pytest.raises(crontab.CrontabError, match="crosses midnight"):
        crontab.line_for(dispatch)
    dispatch = make_dispatch(cron="0 6 * * *", timezone="Asia/Kolkata")
    with pytest.raises(crontab.CrontabError, match="whole number of hours"):
        crontab.install(dispatch)


def _install_raw(dispatch, expression: str) -> None:
    """A line as an older version wrote it, before never-firing was refused."""
    with cron_adapter.edit() as cron:
        command = crontab.command_for(dispatch.pk)
        cron_adapter.add(cron, expression, command, crontab.mark(dispatch.pk))


def test_sync_skips_a_schedule_that_never_fires_and_takes_its_old_line_away(
    make_dispatch,
):
    fires = make_dispatch(enabled=True)
    never = make_dispatch(enabled=True)
    Dispatch.objects.filter(pk=never.pk).update(cron="0 0 31 2 *")
    never.refresh_from_db()
    _install_raw(never, "0 0 31 2 *")
    assert crontab.entry_state(never) == "mismatch"
    result = crontab.sync()
    assert result.added == [fires.pk] and result.removed == [never.pk]
    assert result.skipped == {
        never.pk: f"dispatch {never.name}: 0 0 31 2 * never fires: February has no 31st"
    }
    assert "1 skipped (dispatch " in str(result) and not result.errors
    assert set(crontab.managed_entries()) == {fires.pk}
    assert crontab.entry_state(never) == "never_fires"
    again = crontab.sync()
    assert (again.added, again.removed, list(again.skipped)) == ([], [], [never.pk])


def test_install_refuses_a_schedule_that_never_fires_with_the_reason(make_dispatch):
    dispatch = make_dispatch(enabled=True, cron="0 0 30 2 *")
    with pytest.raises(crontab.CrontabError, match="February has no 30th"):
        crontab.install(dispatch)
    assert dispatch.pk not in crontab.managed_entries()


def test_check_schedule_refuses_what_cron_cannot_take():
    crontab.check_schedule("*/5 * * * 1-5")
    for expression in ("0 0 L * *", "0 0 * * 1#2", "0 0 * * */8"):
        with pytest.raises(crontab.CrontabError, match="cron refuses"):
            crontab.check_schedule(expression)


def test_install_creates_the_lines_log_private_before_cron_does(make_dispatch):
    dispatch = make_dispatch(cron="*/5 * * * *")
    log = crontab.log_for(dispatch.pk)
    log.unlink(missing_ok=True)
    crontab.install(dispatch)
    assert log.stat().st_mode & 0o777 == 0o600
    # cron's shell appends with its own umask (022): the file keeps its mode.
    subprocess.run(["sh", "-c", 'umask 022; echo ran >> "$0"', str(log)], check=True)
    assert log.stat().st_mode & 0o777 == 0o600 and log.read_text() == "ran\n"
