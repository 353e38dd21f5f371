"""Data and prediction drift of dispatch runs against a version's reference
(registry.drift_reference), with Evidently's methods and defaults."""
