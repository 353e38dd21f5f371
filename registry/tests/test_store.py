"""The model store refuses anything training did not write, before loading."""

import json

import pytest

from registry import services, store
from registry.cache import predictors
from registry.errors import ModelUnavailable

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def _folder(version):
    return store.version_dir(version.model.name, version.number)


def _a_model_file(version):
    return next(
        p
        for p in sorted((_folder(version) / "predictor").rglob("*.pkl"))
        if "models" in p.parts
    )


def test_a_trained_version_verifies_and_loads(tiny_classifier):
    assert store.verify(tiny_classifier) == _folder(tiny_classifier) / "predictor"
    manifest = json.loads((_folder(tiny_classifier) / "manifest.json").read_text())
    assert manifest["model"] == "penguins" and manifest["version"] == 1
    assert "predictor.pkl" in manifest["files"]
    assert store.load(tiny_classifier).problem_type == "multiclass"


def test_it_refuses_a_changed_model_file(tiny_classifier, penguins_frame):
    with open(_a_model_file(tiny_classifier), "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelUnavailable, match="was changed after training"):
        store.load(tiny_classifier)
    with pytest.raises(ModelUnavailable):
        services.predict(tiny_classifier, penguins_frame.head(2))


def test_it_refuses_an_added_file(tiny_classifier):
    (_folder(tiny_classifier) / "predictor" / "evil.pkl").write_bytes(b"x")
    with pytest.raises(ModelUnavailable, match="a file training did not write"):
        store.verify(tiny_classifier)


def test_it_refuses_a_missing_file(tiny_classifier):
    _a_model_file(tiny_classifier).unlink()
    with pytest.raises(ModelUnavailable, match=r"model file.* missing"):
        store.verify(tiny_classifier)


def test_it_refuses_a_rewritten_manifest(tiny_classifier):
    # Whoever changes files and rewrites the manifest still cannot match the
    # hash kept in the database.
    with open(_a_model_file(tiny_classifier), "ab") as handle:
        handle.write(b"\0")
    store.write_manifest(_folder(tiny_classifier), model="penguins", number=1)
    with pytest.raises(ModelUnavailable, match="changed outside the platform"):
        store.verify(tiny_classifier)


def test_it_refuses_a_folder_without_manifest(tiny_classifier):
    (_folder(tiny_classifier) / "manifest.json").unlink()
    with pytest.raises(ModelUnavailable, match="has no model files on this server"):
        store.verify(tiny_classifier)


def test_it_refuses_a_version_from_another_autogluon(tiny_classifier):
    manifest_file = _folder(tiny_classifier) / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["autogluon"] = "0.8.2"
    data = json.dumps(manifest, indent=1, sort_keys=True).encode()
    manifest_file.write_bytes(data)
    import hashlib

    tiny_classifier.manifest_sha256 = hashlib.sha256(data).hexdigest()
    tiny_classifier.save()
    predictors.clear()
    with pytest.raises(
        ModelUnavailable, match=r"trained with AutoGluon 0\.8\.2 but this server runs"
    ):
        store.load(tiny_classifier)


def test_loading_and_predicting_does_not_change_the_folder(
    tiny_classifier, penguins_frame
):
    services.predict(tiny_classifier, penguins_frame.head(3), probabilities=True)
    store.verify(tiny_classifier)
