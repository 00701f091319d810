"""The model registry: personalized versions on disk, their rows, and the champion alias.

Layout::

    TIRO_HOME/models/personal/<version>/bundle.json (+ weights/ for fine-tuned versions)

Rows live in the store (``model_versions``, ``model_aliases``). The alias ``champion``
names the version that serves the user, or ``factory`` for the base model; ``previous``
names the one it replaced (what ``rollback`` returns to).

**Atomic publish.** A new version's files are written into a temporary directory next
to the final one (every file written to a temporary name, fsynced and renamed; the
manifest last), the directory is fsynced, renamed to its final name, and the parent
directory fsynced. Only then, in *one* transaction, the version's row is inserted and
the aliases move. A crash before the commit leaves the old champion (and an orphan
directory, removed by ``sweep``); after it, the new one. Readers resolve the champion
alias each time they start a job, so the next job uses the new champion without a
restart (hot swap), while a job in flight keeps the bundle it started with.

**Retention.** The champion, the previous version and the newest others up to
``keep`` versions in all keep their files; older ones are removed from disk and marked
``removed``.

**Deleted data.** The store marks versions trained on a deleted recording
(``trained_on_deleted_data``). ``retire_deleted`` (run at the start of every pipeline
run) retires them, deletes their files, and if the champion was one of them moves the
champion to the newest version not trained on deleted data, or to the factory model.

**Fallback.** ``serving_bundle`` loads and verifies the champion; if its files fail the
checksum or do not load, it returns ``None`` (the factory model serves) with a message.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.bundle import ModelBundle, load_bundle, verify_bundle_files, write_manifest
from engine.errors import ModelError
from engine.paths import models_dir
from engine.weights.atomic import fsync_directory
from retrain.store import Store

log = logging.getLogger("tiro.registry")

FACTORY = "factory"
CHAMPION = "champion"
PREVIOUS = "previous"
KEEP_VERSIONS = 5
TMP_PREFIX = ".tmp-"


def personal_dir() -> Path:
    path = models_dir() / "personal"
    path.mkdir(parents=True, exist_ok=True)
    return path


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: str
    kind: str
    path: str | None
    parent_version: str | None
    training_run_id: int | None
    lineage: Mapping[str, Any]
    status: str
    status_reason: str | None
    trained_on_deleted_data: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class ServingChoice:
    """What serves the next job: a verified bundle, or ``None`` for the factory model."""

    bundle: ModelBundle | None
    version: str
    notice: str | None = None


def _located(version: str, stored: str | None) -> str | None:
    """Where a version's files are in *this* TIRO_HOME: ``personal/<version>/``.

    Rows hold the absolute path the version was written to. A data folder that moved
    (a packaged build whose platform data dir differs, a restored backup, a new
    TIRO_HOME) has the files there under the current home. The stored path is never
    used: it may be another data folder's, and Tiro reads models only from its own. A
    version whose folder is missing here is served as missing (the factory model, with
    a message).
    """
    if stored is None:
        return None
    return str(models_dir() / "personal" / version)


def _row(r: sqlite3.Row | tuple) -> VersionInfo:
    return VersionInfo(
        version=r[0],
        kind=r[1],
        path=_located(r[0], r[2]),
        parent_version=r[3],
        training_run_id=r[4],
        lineage=json.loads(r[5] or "{}"),
        status=r[6],
        status_reason=r[7],
        trained_on_deleted_data=bool(r[8]),
        created_at=r[9],
        updated_at=r[10],
    )


_COLUMNS = (
    "version, kind, path, parent_version, training_run_id, lineage_json, status, "
    "status_reason, trained_on_deleted_data, created_at, updated_at"
)


def new_version_id() -> str:
    return f"p{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"


class Registry:
    """Model versions of one store (one user)."""

    def __init__(self, store: Store, keep: int = KEEP_VERSIONS) -> None:
        self.store = store
        self.keep = keep

    # --- reads -----------------------------------------------------------------------

    def versions(self) -> list[VersionInfo]:
        rows = self.store.read(
            lambda c: c.execute(
                f"SELECT {_COLUMNS} FROM model_versions WHERE kind = 'personal' "
                "ORDER BY created_at DESC, version DESC"
            ).fetchall()
        )
        return [_row(r) for r in rows]

    def version(self, version: str) -> VersionInfo | None:
        row = self.store.read(
            lambda c: c.execute(
                f"SELECT {_COLUMNS} FROM model_versions WHERE version = ?", (version,)
            ).fetchone()
        )
        return _row(row) if row else None

    def alias(self, name: str) -> str | None:
        row = self.store.read(
            lambda c: c.execute(
                "SELECT version FROM model_aliases WHERE alias = ?", (name,)
            ).fetchone()
        )
        return row[0] if row else None

    def champion(self) -> str:
        """The champion's version id, or ``"factory"``."""
        return self.alias(CHAMPION) or FACTORY

    def champion_path(self) -> Path | None:
        """The champion's bundle directory for ``engine.transcribe`` (``None``: factory).

        The engine verifies it when the job starts and falls back to the factory model,
        with a notice, if it fails its checksum or does not load.
        """
        version = self.champion()
        if version == FACTORY:
            return None
        info = self.version(version)
        if info is None or not info.path:
            log.warning("champion %s has no files; the factory model serves", version)
            return None
        return Path(info.path)

    def bundle_of(self, version: str) -> ModelBundle:
        """Load and verify a version's bundle (raises ``ModelError``)."""
        info = self.version(version)
        if info is None or not info.path:
            from engine.errors import ModelMissingError

            raise ModelMissingError(f"model version {version} is not in the registry.")
        bundle = load_bundle(Path(info.path))
        verify_bundle_files(bundle)
        return bundle

    def serving_bundle(self) -> ServingChoice:
        """The champion, verified; on any failure the factory model, with a message."""
        version = self.champion()
        if version == FACTORY:
            return ServingChoice(None, FACTORY)
        try:
            return ServingChoice(self.bundle_of(version), version)
        except ModelError as exc:
            notice = (
                f"Your personalized model {version} could not be used ({exc}); "
                "the factory model transcribes instead."
            )
            log.warning("%s", notice)
            return ServingChoice(None, FACTORY, notice)

    # --- publish ---------------------------------------------------------------------

    def write_version(self, draft: ModelBundle, version: str | None = None) -> ModelBundle:
        """Write ``draft`` (a bundle without a directory, or with files in a staging
        directory) to ``personal/<version>/`` atomically; returns the written bundle."""
        version = version or draft.version or new_version_id()
        root = personal_dir()
        final = root / version
        if final.exists():
            raise FileExistsError(f"model version {version} already exists on disk")
        staging = root / f"{TMP_PREFIX}{version}-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        try:
            if draft.directory is not None and draft.files:
                for relative in draft.files:
                    target = staging / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(draft.directory / relative, target)
                    with target.open("rb") as handle:
                        os.fsync(handle.fileno())
                    fsync_directory(target.parent)
            bundle = replace(draft, version=version, directory=staging, created_at=utc_now())
            write_manifest(bundle)
            fsync_directory(staging)
            staging.rename(final)
            fsync_directory(root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return replace(bundle, directory=final)

    def publish(
        self,
        draft: ModelBundle,
        *,
        training_run_id: int | None = None,
        status_reason: str = "promoted by the gate",
        version: str | None = None,
    ) -> VersionInfo:
        """Write the bundle, then register it and make it the champion in one transaction."""
        if "environment" not in draft.lineage:  # Monitoring 1: what it was made with
            from retrain.environment import fingerprint

            draft = replace(draft, lineage={**draft.lineage, "environment": fingerprint()})
        bundle = self.write_version(draft, version)
        now = utc_now()
        lineage = json.dumps(dict(bundle.lineage), sort_keys=True, default=str)

        def job(conn: sqlite3.Connection) -> None:
            old = conn.execute(
                "SELECT version FROM model_aliases WHERE alias = ?", (CHAMPION,)
            ).fetchone()
            old_version = old[0] if old else FACTORY
            conn.execute(
                "INSERT INTO model_versions (version, kind, path, parent_version, "
                "training_run_id, lineage_json, status, status_reason, created_at, updated_at) "
                "VALUES (?, 'personal', ?, ?, ?, ?, 'champion', ?, ?, ?)",
                (
                    bundle.version,
                    str(bundle.directory),
                    old_version,
                    training_run_id,
                    lineage,
                    status_reason,
                    now,
                    now,
                ),
            )
            conn.execute(
                "UPDATE model_versions SET status = 'previous', updated_at = ? "
                "WHERE version = ? AND status = 'champion'",
                (now, old_version),
            )
            _set_alias(conn, PREVIOUS, old_version, now)
            _set_alias(conn, CHAMPION, bundle.version, now)

        self.store.write(job).result()
        self.prune()
        info = self.version(bundle.version)
        assert info is not None
        return info

    # --- moving the champion ---------------------------------------------------------

    def _move_champion(self, target: str, reason: str, demoted_status: str) -> None:
        now = utc_now()

        def job(conn: sqlite3.Connection) -> None:
            old = conn.execute(
                "SELECT version FROM model_aliases WHERE alias = ?", (CHAMPION,)
            ).fetchone()
            old_version = old[0] if old else FACTORY
            if old_version == target:
                return
            conn.execute(
                "UPDATE model_versions SET status = ?, status_reason = ?, updated_at = ? "
                "WHERE version = ?",
                (demoted_status, reason, now, old_version),
            )
            if target != FACTORY:
                conn.execute(
                    "UPDATE model_versions SET status = 'champion', status_reason = ?, "
                    "updated_at = ? WHERE version = ?",
                    (reason, now, target),
                )
            _set_alias(conn, CHAMPION, target, now)
            _set_alias(conn, PREVIOUS, old_version, now)

        self.store.write(job).result()

    def rollback(self, reason: str = "rolled back by the user") -> str:
        """Champion -> the version before it (or the factory model). Returns the new champion."""
        current = self.champion()
        if current == FACTORY:
            return FACTORY
        info = self.version(current)
        target = info.parent_version if info and info.parent_version else FACTORY
        if target != FACTORY:
            parent = self.version(target)
            usable = (
                parent is not None
                and not parent.trained_on_deleted_data
                and parent.status not in ("removed", "retired")
                and parent.path
                and Path(parent.path).is_dir()
            )
            if not usable:
                target = self._newest_usable(exclude={current}) or FACTORY
        self._move_champion(target, reason, "rolled_back")
        return target

    def rollback_to_factory(self, reason: str) -> None:
        """Champion -> the factory model, the demoted version marked ``rolled_back``."""
        self._move_champion(FACTORY, reason, "rolled_back")

    def use_base(self, reason: str = "the user chose the factory model") -> None:
        self._move_champion(FACTORY, reason, "inactive")

    def _newest_usable(self, exclude: set[str]) -> str | None:
        for info in self.versions():
            if info.version in exclude or info.trained_on_deleted_data:
                continue
            if info.status in ("removed", "retired", "rolled_back"):
                continue
            if info.path and Path(info.path).is_dir():
                return info.version
        return None

    # --- housekeeping ----------------------------------------------------------------

    def retire_deleted(self) -> list[str]:
        """Retire versions trained on deleted data; move the champion off them."""
        tainted = [
            v for v in self.versions() if v.trained_on_deleted_data and v.status != "retired"
        ]
        if not tainted:
            return []
        names = {v.version for v in tainted}
        champion = self.champion()
        if champion in names:
            target = self._newest_usable(exclude=names) or FACTORY
            self._move_champion(target, "the champion was trained on deleted data", "retired")
        now = utc_now()

        def job(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE model_versions SET status = 'retired', "
                "status_reason = 'trained on data the user deleted', updated_at = ? "
                "WHERE version = ?",
                [(now, v) for v in sorted(names)],
            )
            previous = conn.execute(
                "SELECT version FROM model_aliases WHERE alias = ?", (PREVIOUS,)
            ).fetchone()
            if previous and previous[0] in names:
                _set_alias(conn, PREVIOUS, FACTORY, now)

        self.store.write(job).result()
        for info in tainted:
            if info.path:
                shutil.rmtree(info.path, ignore_errors=True)
        return sorted(names)

    def prune(self) -> list[str]:
        """Keep the files of the champion, the previous one and the newest up to ``keep``."""
        protected = {self.champion(), self.alias(PREVIOUS) or FACTORY}
        on_disk = [v for v in self.versions() if v.status not in ("removed", "retired")]
        keep: list[str] = [v.version for v in on_disk if v.version in protected]
        for info in on_disk:
            if len(keep) >= self.keep:
                break
            if info.version not in keep:
                keep.append(info.version)
        drop = [v for v in on_disk if v.version not in keep]
        if not drop:
            return []
        now = utc_now()

        def job(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE model_versions SET status = 'removed', "
                "status_reason = 'older than the last versions kept', updated_at = ? "
                "WHERE version = ?",
                [(now, v.version) for v in drop],
            )

        self.store.write(job).result()
        for info in drop:
            if info.path:
                shutil.rmtree(info.path, ignore_errors=True)
        return [v.version for v in drop]

    def sweep(self) -> list[str]:
        """Remove staging directories and version directories the registry does not know."""
        known = {v.version for v in self.versions() if v.status not in ("removed", "retired")}
        removed = []
        for child in personal_dir().iterdir():
            if child.is_dir() and (child.name.startswith(TMP_PREFIX) or child.name not in known):
                shutil.rmtree(child, ignore_errors=True)
                removed.append(child.name)
        return removed


def _set_alias(conn: sqlite3.Connection, alias: str, version: str, now: str) -> None:
    conn.execute(
        "INSERT INTO model_aliases (alias, version, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT(alias) DO UPDATE SET version = excluded.version, "
        "updated_at = excluded.updated_at",
        (alias, version, now),
    )
