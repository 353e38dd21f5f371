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


def _fake_fit(staging):
    """A staging folder holding a predictor folder of two small files."""
    (staging / "predictor" / "models").mkdir(parents=True)
    (staging / "predictor" / "predictor.pkl").write_bytes(b"abc")
    (staging / "predictor" / "models" / "m.pkl").write_bytes(b"defgh")
    return staging


def test_write_manifest_hashes_every_predictor_file(tmp_path):
    import hashlib

    folder = _fake_fit(tmp_path / "v")
    digest = store.write_manifest(folder, model="m", number=3)
    data = (folder / "manifest.json").read_bytes()
    assert digest == hashlib.sha256(data).hexdigest()
    manifest = json.loads(data)
    assert manifest["format"] == store.FORMAT
    assert (manifest["model"], manifest["version"]) == ("m", 3)
    assert manifest["files"] == {
        "models/m.pkl": hashlib.sha256(b"defgh").hexdigest(),
        "predictor.pkl": hashlib.sha256(b"abc").hexdigest(),
    }
    # A changed byte changes the manifest's hash.
    (folder / "predictor" / "predictor.pkl").write_bytes(b"abd")
    assert store.write_manifest(folder, model="m", number=3) != digest


def test_write_manifest_refuses_a_link_in_the_predictor_folder(tmp_path):
    folder = _fake_fit(tmp_path / "v")
    (folder / "predictor" / "link.pkl").symlink_to(tmp_path / "elsewhere.pkl")
    with pytest.raises(ModelUnavailable, match=r"holds a link \(link\.pkl\)"):
        store.write_manifest(folder, model="m", number=1)


def test_size_bytes_sums_the_files_below(tmp_path):
    folder = _fake_fit(tmp_path / "v")
    assert store.size_bytes(folder) == 3 + 5
    assert store.size_bytes(tmp_path / "empty-or-missing") == 0


def test_file_sha256_is_the_files_hash(tmp_path):
    import hashlib

    path = tmp_path / "big"
    path.write_bytes(b"x" * (3 << 20))  # more than one block
    assert store.file_sha256(path) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()


def test_publish_moves_the_fit_into_its_version_folder(db):
    staging = _fake_fit(store.staging_dir())
    target, digest = store.publish(staging, model="fresh", number=1)
    assert target == store.version_dir("fresh", 1)
    assert not staging.exists()
    assert (target / "manifest.json").is_file()
    assert (target / "predictor" / "models" / "m.pkl").read_bytes() == b"defgh"
    assert len(digest) == 64


def test_publish_never_overwrites_another_version(db):
    store.publish(_fake_fit(store.staging_dir()), model="fresh", number=1)
    second = _fake_fit(store.staging_dir())
    (second / "predictor" / "predictor.pkl").write_bytes(b"other")
    with pytest.raises(OSError):
        store.publish(second, model="fresh", number=1)
    kept = store.version_dir("fresh", 1) / "predictor" / "predictor.pkl"
    assert kept.read_bytes() == b"abc"


def test_staging_folders_are_fresh_and_discarded(db):
    first, second = store.staging_dir(), store.staging_dir()
    assert first != second and first.is_dir() and not any(first.iterdir())
    assert first.parent == store.root() / ".staging"
    _fake_fit(first)
    store.discard(first)
    assert not first.exists() and second.is_dir()
    store.discard(first)  # already gone: nothing to do


def test_remove_deletes_only_that_version(tiny_classifier, tiny_regressor):
    store.remove("penguins", 1)
    assert not _folder(tiny_classifier).exists()
    assert store.verify(tiny_regressor)
    with pytest.raises(ModelUnavailable, match="has no model files"):
        store.verify(tiny_classifier)


def test_it_refuses_a_version_whose_row_has_no_manifest_hash(tiny_classifier):
    tiny_classifier.manifest_sha256 = ""
    with pytest.raises(ModelUnavailable, match="changed outside the platform"):
        store.verify(tiny_classifier)


def test_it_refuses_a_link_put_in_place_of_a_model_file(tiny_classifier, tmp_path):
    model_file = _a_model_file(tiny_classifier)
    copy = tmp_path / "copy.pkl"
    copy.write_bytes(model_file.read_bytes())
    model_file.unlink()
    model_file.symlink_to(copy)
    with pytest.raises(ModelUnavailable, match="holds a link"):
        store.verify(tiny_classifier)


def test_predictor_files_are_the_manifests(tiny_classifier):
    files = store.predictor_files(tiny_classifier)
    predictor = _folder(tiny_classifier) / "predictor"
    assert set(files) == {
        p.relative_to(predictor).as_posix() for p in predictor.rglob("*") if p.is_file()
    }
    assert files["predictor.pkl"] == store.file_sha256(predictor / "predictor.pkl")


def _compiled_version(tiny_classifier):
    if not tiny_classifier.compiled_sha256:
        pytest.skip("no compiled boosters on this machine")
    return tiny_classifier


def test_compiled_code_verifies_against_the_rows_hash(tiny_classifier):
    version = _compiled_version(tiny_classifier)
    folder, manifest = store.verify_compiled(version)
    assert folder == _folder(version) / "compiled"
    assert manifest["files"] and all(
        store.file_sha256(folder / name) == digest
        for name, digest in manifest["files"].items()
    )


def test_it_refuses_changed_or_missing_compiled_code(tiny_classifier):
    version = _compiled_version(tiny_classifier)
    folder, manifest = store.verify_compiled(version)
    name = sorted(manifest["files"])[0]
    with open(folder / name, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelUnavailable, match=f"compiled/{name} is missing or was"):
        store.verify_compiled(version)
    (folder / name).unlink()
    with pytest.raises(ModelUnavailable, match=f"compiled/{name} is missing or was"):
        store.verify_compiled(version)


def test_it_refuses_a_rewritten_compiled_manifest(tiny_classifier):
    version = _compiled_version(tiny_classifier)
    manifest_file = _folder(version) / "compiled" / "compiled.json"
    manifest_file.write_bytes(manifest_file.read_bytes() + b" ")
    with pytest.raises(ModelUnavailable, match="does not match the one the platform"):
        store.verify_compiled(version)
    manifest_file.unlink()
    with pytest.raises(ModelUnavailable, match=r"compiled/compiled\.json is missing"):
        store.verify_compiled(version)


def test_a_version_without_compiled_code_says_so(tiny_classifier):
    store.remove_compiled(tiny_classifier)
    assert not (_folder(tiny_classifier) / "compiled").exists()
    tiny_classifier.compiled_sha256 = ""
    with pytest.raises(ModelUnavailable, match="has no compiled models"):
        store.verify_compiled(tiny_classifier)
