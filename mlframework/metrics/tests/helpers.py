"""Scraping /metrics and reading it with prometheus-client's own parser."""

from prometheus_client.parser import text_string_to_metric_families


def scrape(client, **extra) -> dict:
    """{family name: family} from GET /metrics; fails unless it answered 200."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content[:300]
    text = response.content.decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families: dict, family: str, sample: str | None = None, **labels) -> float:
    """The one sample of `family` (named `sample`, default the family's own
    name) whose labels include `labels`; 0.0 when there is none (a counter
    no process has counted yet is not in the output at all)."""
    name = sample or family
    if family not in families:
        return 0.0
    found = [
        s.value
        for s in families[family].samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) <= 1, f"{len(found)} samples of {name} with {labels}"
    return found[0] if found else 0.0
