import logging

from mlframework.lib.redact import MASK, RedactingFilter, redact, redact_data


def test_it_masks_odbc_passwords():
    text = "DRIVER={MariaDB Unicode};SERVER=db;UID=app;PWD=s3cr3t;DATABASE=x"
    assert (
        redact(text)
        == f"DRIVER={{MariaDB Unicode}};SERVER=db;UID=app;PWD={MASK};DATABASE=x"
    )


def test_it_masks_braced_passwords_and_url_credentials():
    assert "p;w" not in redact("PWD={p;w};UID=a")
    assert redact("mysql://app:pa55@db:3306/x") == f"mysql://app:{MASK}@db:3306/x"


def test_it_masks_key_value_secrets():
    assert redact("password: hunter2 and token=abc123") == (
        f"password: {MASK} and token={MASK}"
    )


def test_it_leaves_ordinary_text_alone():
    text = "read 1000 rows in 0.5 s from table passengers"
    assert redact(text) == text


def test_it_masks_configured_secret_values(settings):
    import dataclasses

    from mlframework.lib import redact as module

    config = settings.CONFIG
    events = dataclasses.replace(config.databases.events, password="Zebra-Horse")
    databases = dataclasses.replace(config.databases, events=events)
    settings.CONFIG = dataclasses.replace(config, databases=databases)
    module._configured_secrets.cache_clear()
    try:
        assert redact("auth failed for Zebra-Horse") == f"auth failed for {MASK}"
    finally:
        module._configured_secrets.cache_clear()


def test_data_keys_that_name_secrets_are_masked():
    data = {"api_key": "k", "nested": [{"Password": "p"}], "rows": 3, "token": ""}
    assert redact_data(data) == {
        "api_key": MASK,
        "nested": [{"Password": MASK}],
        "rows": 3,
        "token": "",
    }


def test_the_logging_filter_masks_records():
    record = logging.LogRecord("x", logging.INFO, "f", 1, "conn %s", ("PWD=abc",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == f"conn PWD={MASK}"
