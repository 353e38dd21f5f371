"""The crontab adapter against the real crontab (python-crontab, `crontab -`)."""

import subprocess
import threading

import pytest
from django.conf import settings

from mlframework.lib import crontab

MARK = "lib-test"


def _crontab_text() -> str:
    result = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else ""


def _set_crontab(text: str) -> None:
    subprocess.run(["crontab", "-"], input=text, text=True, check=True)


@pytest.fixture(autouse=True)
def _cleanup():
    """Whatever a test marked under this run's tag is removed after it."""
    yield
    with crontab.edit() as cron:
        for job in crontab.find(cron, MARK) + [
            job for jobs in crontab.find_under(cron, MARK).values() for job in jobs
        ]:
            cron.remove(job)


@pytest.fixture
def foreign_line():
    """A line the platform does not own; it must survive every operation."""
    line = f"17 3 * * * /bin/true # not-ours-{settings.CONFIG.cron.tag}"
    _set_crontab(_crontab_text() + line + "\n")
    yield line
    remaining = [r for r in _crontab_text().splitlines() if r.strip() != line]
    _set_crontab("\n".join(remaining) + "\n")


def test_edit_writes_a_tagged_line_and_keeps_other_lines(foreign_line):
    with crontab.edit() as cron:
        crontab.add(cron, "*/7 * * * *", "/bin/true", MARK)
    text = _crontab_text()
    assert f"*/7 * * * * /bin/true # {settings.CONFIG.cron.tag}:{MARK}\n" in text
    assert foreign_line in text
    found = crontab.find(crontab.read(), MARK)
    assert [job.render() for job in found] == [
        crontab.line("*/7 * * * *", "/bin/true", MARK)
    ]
    with crontab.edit() as cron:
        for job in crontab.find(cron, MARK):
            cron.remove(job)
    text = _crontab_text()
    assert f":{MARK}" not in text and foreign_line in text


def test_find_under_keys_lines_by_what_follows_the_prefix():
    with crontab.edit() as cron:
        crontab.add(cron, "1 * * * *", "/bin/true", f"{MARK}:1")
        crontab.add(cron, "2 * * * *", "/bin/true", f"{MARK}:22")
        crontab.add(cron, "3 * * * *", "/bin/true", MARK)  # not under the prefix
    found = crontab.find_under(crontab.read(), MARK)
    assert sorted(found) == ["1", "22"]
    assert found["22"][0].render().startswith("2 * * * * ")


def test_another_tag_is_never_found(monkeypatch):
    with crontab.edit() as cron:
        crontab.add(cron, "4 * * * *", "/bin/true", MARK)
    with monkeypatch.context() as patch:
        patch.setattr(crontab, "tag", lambda: "another-installation")
        assert crontab.find(crontab.read(), MARK) == []


def test_edit_writes_nothing_when_nothing_changed_or_the_block_raises():
    before = _crontab_text()
    with crontab.edit():
        pass
    with pytest.raises(RuntimeError), crontab.edit() as cron:
        crontab.add(cron, "5 * * * *", "/bin/true", MARK)
        raise RuntimeError("changed my mind")
    assert _crontab_text() == before


def test_a_schedule_cron_refuses_is_a_domain_error_and_adds_nothing():
    refused = pytest.raises(crontab.CrontabError, match="cron refused")
    with refused, crontab.edit() as cron:
        crontab.add(cron, "61 * * * *", "/bin/true", MARK)
    assert crontab.find(crontab.read(), MARK) == []
    with pytest.raises(crontab.CrontabError, match="cron refuses"):
        crontab.check_schedule("0 0 L * *")
    crontab.check_schedule("0 0 * * 1-5")


def test_line_renders_as_python_crontab_writes_it():
    assert crontab.line("0 * * * *", "/bin/true", MARK).startswith("@hourly ")


def test_an_unreadable_crontab_is_a_domain_error(monkeypatch, tmp_path):
    # python-crontab runs `crontab -l` itself: a missing binary is an OSError.
    with monkeypatch.context() as patch:
        patch.setattr("crontab.CRON_COMMAND", str(tmp_path / "no-crontab"))
        with pytest.raises(crontab.CrontabError, match="cannot be read"):
            crontab.read()


def test_command_names_only_paths_and_the_config_file():
    log = crontab.log_dir() / "x.log"
    line = crontab.command("scripts/dispatch.py", 12, log=log)
    assert line.startswith(f"cd {crontab.project_dir()} && MLFRAMEWORK_CONFIG=")
    assert f"{crontab.python()} scripts/dispatch.py 12 >> {log} 2>&1" in line
    assert "apppass" not in line


def test_create_log_makes_the_file_private(tmp_path):
    log = tmp_path / "deeper" / "job.log"
    crontab.create_log(log)
    assert log.stat().st_mode & 0o777 == 0o600


def test_concurrent_edits_lose_no_line():
    def add(minute: int) -> None:
        with crontab.edit() as cron:
            crontab.add(cron, f"{minute} * * * *", "/bin/true", f"{MARK}:{minute}")

    threads = [threading.Thread(target=add, args=(m,)) for m in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(crontab.find_under(crontab.read(), MARK), key=int) == [
        str(m) for m in range(8)
    ]


def test_owned_lines_number_their_marks_logs_and_commands(foreign_line, tmp_path):
    lines = crontab.OwnedLines(MARK, "scripts/thing.py")
    assert lines.mark(7) == f"{MARK}:7"
    assert lines.log_for(7) == crontab.log_dir() / f"{MARK}-7.log"
    assert lines.command_for(7).endswith(
        f"scripts/thing.py 7 >> {lines.log_for(7)} 2>&1"
    )
    with crontab.edit() as cron:
        lines.put(cron, "5 4 * * *", 7)
        lines.put(cron, "6 4 * * *", 8)
        crontab.add(cron, "7 4 * * *", "/bin/true", f"{MARK}:not-an-id")
    assert lines.entries() == {
        7: lines.line("5 4 * * *", 7),
        8: lines.line("6 4 * * *", 8),
    }
    assert lines.remove(7) is True
    assert lines.remove(7) is False
    assert sorted(lines.entries()) == [8]
    assert lines.remove_all() == 1
    assert lines.entries() == {}
    assert foreign_line in _crontab_text()
    assert f"{MARK}:not-an-id" in _crontab_text()  # not a numbered line: kept


def test_owned_lines_name_a_log_folder_they_cannot_make(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(crontab, "log_dir", lambda: blocker / "logs")
    lines = crontab.OwnedLines(MARK, "scripts/thing.py")
    refused = pytest.raises(crontab.CrontabError, match=r"the log folder .* cannot be")
    with refused, crontab.edit() as cron:
        lines.put(cron, "5 4 * * *", 7)
    assert lines.entries() == {}
