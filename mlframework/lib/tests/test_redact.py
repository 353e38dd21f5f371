import logging
import time

from hypothesis import given
from hypothesis import strategies as st

from mlframework.lib.redact import (
    MASK,
    SECRET_NAMES,
    RedactingFilter,
    redact,
    redact_data,
    secret_values,
)


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
    # A value runs to the next ";" (or, after ":", the line's end): what else
    # the line holds may be the secret's own words.
    assert redact("password: hunter2 and more\ntoken=abc123") == (
        f"password: {MASK}\ntoken={MASK}"
    )
    assert (
        redact('{"api_key": "k 1", "rows": 3}') == f'{{"api_key": "{MASK}", "rows": 3}}'
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


def test_it_masks_odbc_values_by_odbcs_rules():
    assert redact("PWD={p;w}}x};UID=a") == f"PWD={MASK};UID=a"
    assert redact("UID=a;PWD=a,b,c;X=1") == f"UID=a;PWD={MASK};X=1"
    assert redact("Server=db;Password=p@ss word") == f"Server=db;Password={MASK}"
    assert redact('pwd="a;b"c;UID=u') == f"pwd={MASK};UID=u"
    assert redact("PWD={never closed;UID=u") == f"PWD={MASK}"


def test_it_masks_secret_names_exactly_not_their_substrings():
    for text in (
        "passenger_count=3",
        "token_count: 7",
        "compass=north; bypass=1; max_tokens=5; passwords_reset=2",
        "authors: 3",
    ):
        assert redact(text) == text
    for key in ("db_password", "x-api-key", "accessToken", "CLIENT_SECRET", "Auth"):
        assert redact(f"{key}=s3cr3t") == f"{key}={MASK}", key


def test_data_keys_are_masked_by_exact_names():
    data = {"passenger_count": 3, "token_count": 7, "clientSecret": "c"}
    assert redact_data(data) == {
        "passenger_count": 3,
        "token_count": 7,
        "clientSecret": MASK,
    }


def test_the_connection_strings_secrets_are_configured_secrets():
    assert secret_values("DRIVER={x};PWD={a;b}}c};UID=u") == ["{a;b}}c}", "a;b}c"]


def test_a_megabyte_is_masked_in_linear_time():
    for text in ("a-" * 500_000, "a://u:" * 200_000, "x " * 500_000):
        started = time.perf_counter()
        assert redact(text + " password=x").endswith(f"password={MASK}")
        assert time.perf_counter() - started < 2, text[:10]


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


# --- properties: generated ODBC connection strings -------------------------

_PLAIN_KEYS = [
    "DRIVER",
    "SERVER",
    "UID",
    "DATABASE",
    "PORT",
    "passenger_count",
    "token_count",
    "Passes",
    "compass",
    "authors",
    "bypass_cache",
]
_secret_key = st.builds(
    lambda name, upper: name.upper() if upper else name,
    st.sampled_from(sorted(SECRET_NAMES)),
    st.booleans(),
)
_plain_value = st.text(
    st.characters(blacklist_characters="=:;{}\"'\n", blacklist_categories=["Cs"]),
    max_size=20,
)


def _odbc(value: str) -> str:
    """A value as an ODBC connection string writes it."""
    if ";" in value or "}" in value or value.startswith("{"):
        return "{" + value.replace("}", "}}") + "}"
    return value


@st.composite
def _connection_strings(draw):
    pairs = draw(
        st.lists(
            st.one_of(
                st.tuples(st.sampled_from(_PLAIN_KEYS), _plain_value, st.just(False)),
                # A value opening with a quote is read as quoted text, which can
                # span a ";" and mask more (never less): outside this property,
                # see test_an_unclosed_quote_in_an_odbc_value_ends_at_the_semicolon.
                st.tuples(
                    _secret_key,
                    st.text(min_size=1).filter(lambda v: v[0] not in "'\""),
                    st.just(True),
                ),
            ),
            min_size=1,
            max_size=6,
        )
    )
    text = ";".join(f"{key}={_odbc(value)}" for key, value, _ in pairs)
    masked = ";".join(
        f"{key}={MASK if secret else _odbc(value)}" for key, value, secret in pairs
    )
    return text, masked, pairs


@given(_connection_strings())
def test_property_secret_values_are_masked_and_the_rest_kept(generated):
    text, masked, pairs = generated
    assert redact(text) == masked
    for _key, value, secret in pairs:
        if secret and len(value) >= 2 and value not in masked:
            assert value not in redact(text)


@given(
    st.sampled_from(sorted(SECRET_NAMES)),
    st.sampled_from(["_count", "s", "_total", "ed", "_id"]),
    st.sampled_from(["pre", "by", "com", ""]),
    st.integers(0, 10**6),
)
def test_property_words_that_only_hold_a_secrets_name_are_kept(name, tail, head, n):
    for text in (f"{head}{name}{tail}={n}", f"{head}{name}{tail}: {n}"):
        assert redact(text) == text
    assert redact_data({f"{name}{tail}": n}) == {f"{name}{tail}": n}


def test_an_unclosed_quote_in_an_odbc_value_ends_at_the_semicolon():
    # Found by the property test: the quote ran the mask to the end of the text.
    assert redact('access_token=";DRIVER={SQLite3}') == (
        f"access_token={MASK};DRIVER={{SQLite3}}"
    )
    assert redact('PWD="a"b;UID=me') == f"PWD={MASK};UID=me"
