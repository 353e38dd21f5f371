"""The typed contracts a version gives other apps, and how they are stored."""

import pytest

from registry.contracts import DatasetRef, Feature, FeatureSchema, Lineage
from registry.models import ModelVersion, RegisteredModel

STORED_FEATURES = [
    {
        "name": "bill_length_mm",
        "dtype": "float64",
        "kind": "numeric",
        "missing": 2,
        "min": 32.1,
        "max": 59.6,
        "mean": 43.9,
    },
    {
        "name": "island",
        "dtype": "object",
        "kind": "categorical",
        "missing": 0,
        "categories": ["Biscoe", "Dream"],
    },
]


def test_a_feature_schema_round_trips_its_json():
    schema = FeatureSchema.from_json(STORED_FEATURES)
    assert schema.names == ["bill_length_mm", "island"]
    assert schema.get("island").categories == ("Biscoe", "Dream")
    assert schema.get("island").is_text_category
    assert schema[0].is_numeric and schema[0].mean == 43.9
    assert [f.name for f in schema.of_kind("numeric")] == ["bill_length_mm"]
    assert schema.to_json() == STORED_FEATURES
    assert FeatureSchema.from_json(None) == FeatureSchema() and not FeatureSchema()


def test_a_feature_missing_optional_keys_gets_defaults():
    feature = Feature.from_json({"name": "x"})
    assert (feature.kind, feature.dtype, feature.missing) == ("text", "object", 0)
    assert feature.to_json() == {
        "name": "x",
        "dtype": "object",
        "kind": "text",
        "missing": 0,
    }


def test_lineage_round_trips_and_keeps_keys_it_does_not_know():
    stored = {
        "dataset": {"sha256": "ab" * 32, "name": "p.csv", "rows": 3, "query": "Q"},
        "seed": 4,
        "excluded": ["id"],
        "libraries": {"autogluon": "1.6.3"},
        "compiled": {"status": "compiled"},
        "from_a_newer_platform": {"x": 1},
    }
    lineage = Lineage.from_json(stored)
    assert lineage.dataset == DatasetRef(
        sha256="ab" * 32, name="p.csv", rows=3, extra={"query": "Q"}
    )
    assert (lineage.seed, lineage.excluded) == (4, ("id",))
    assert lineage.extra == {"from_a_newer_platform": {"x": 1}}
    again = lineage.to_json()
    assert again["from_a_newer_platform"] == {"x": 1}
    assert again["dataset"]["query"] == "Q" and again["excluded"] == ["id"]
    assert Lineage.from_json(again) == lineage


def test_a_stored_null_takes_the_default():
    lineage = Lineage.from_json({"seed": None, "compiled": None, "time_limit": None})
    assert (lineage.seed, lineage.compiled, lineage.time_limit) == (0, {}, None)


def test_replace_gives_a_new_lineage():
    lineage = Lineage(seed=1)
    changed = lineage.replace(latency_ms=2.5)
    assert (lineage.latency_ms, changed.latency_ms, changed.seed) == (None, 2.5, 1)


@pytest.mark.django_db
def test_the_row_holds_json_and_the_attribute_the_contract():
    model = RegisteredModel.objects.create(name="contracted")
    version = ModelVersion.objects.create(
        model=model,
        number=1,
        label="species",
        problem_type="multiclass",
        eval_metric="accuracy",
        features=STORED_FEATURES,  # JSON in...
        lineage={"seed": 7},
    )
    assert isinstance(version.features, FeatureSchema)  # ...typed at once
    assert version.lineage.seed == 7
    version.lineage = version.lineage.replace(seed=8)
    version.save(update_fields=["lineage"])
    fresh = ModelVersion.objects.get(pk=version.pk)
    assert fresh.features.names == ["bill_length_mm", "island"]
    assert fresh.lineage.seed == 8
    raw = ModelVersion.objects.filter(pk=version.pk).values("lineage", "features")
    assert raw[0]["lineage"]["seed"] == 8 and raw[0]["features"] == STORED_FEATURES
    ModelVersion.objects.filter(pk=version.pk).update(lineage=Lineage(seed=9))
    assert ModelVersion.objects.get(pk=version.pk).lineage.seed == 9


@pytest.mark.django_db
def test_a_new_version_starts_with_empty_contracts():
    version = ModelVersion(number=1)
    assert version.features == FeatureSchema() and version.lineage == Lineage()


def test_a_schema_finds_its_features_by_name_and_kind():
    schema = FeatureSchema.from_json(
        [
            *STORED_FEATURES,
            {"name": "flag", "dtype": "bool", "kind": "boolean", "missing": 0},
            {"name": "code", "dtype": "category", "kind": "categorical", "missing": 0},
        ]
    )
    assert schema.names == ["bill_length_mm", "island", "flag", "code"]
    assert len(schema) == 4 and schema[1].name == "island"
    assert schema.get("island").categories == ("Biscoe", "Dream")
    assert schema.get("colour") is None
    assert [f.name for f in schema.of_kind("categorical")] == ["island", "code"]
    assert [f.name for f in schema.of_kind("numeric", "boolean")] == [
        "bill_length_mm",
        "flag",
    ]
    assert schema.get("bill_length_mm").is_numeric
    assert not schema.get("flag").is_numeric
    # Text categories only: a pandas category column is coded, not text.
    assert schema.get("island").is_text_category
    assert not schema.get("code").is_text_category


def test_an_empty_schema_is_false():
    assert not FeatureSchema.from_json(None)
    assert not FeatureSchema.from_json([])
    assert FeatureSchema.from_json(STORED_FEATURES)
