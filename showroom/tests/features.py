"""A schema with one feature of each kind, as the registry stores it."""

from registry.contracts import FeatureSchema

FEATURES = FeatureSchema.from_json(
    [
        {
            "name": "bill_length_mm",
            "dtype": "float64",
            "kind": "numeric",
            "min": 32.1,
            "max": 59.6,
            "mean": 43.9,
            "missing": 2,
        },
        {
            "name": "flipper_length_mm",
            "dtype": "int64",
            "kind": "numeric",
            "min": 172,
            "max": 231,
            "mean": 200.9,
            "missing": 0,
        },
        {
            "name": "island",
            "dtype": "object",
            "kind": "categorical",
            "categories": ["Biscoe", "Dream", "Torgersen"],
            "missing": 0,
        },
        {
            "name": "tagged",
            "dtype": "bool",
            "kind": "boolean",
            "categories": [True, False],
            "missing": 0,
        },
        {"name": "note", "dtype": "object", "kind": "text", "missing": 5},
        {"name": "seen", "dtype": "datetime64[ns]", "kind": "datetime", "missing": 0},
    ]
)

GOOD = {
    "bill_length_mm": 45.2,
    "flipper_length_mm": 215,
    "island": "Biscoe",
    "tagged": True,
    "note": "calm bird",
    "seen": "2009-11-05T10:30",
}
