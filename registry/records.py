"""Append-only, tamper-evident records of a model: its stage moves and its versions' reviews.

One module for both (registry/history.py and registry/reviews.py only say what goes in them).

A record is a small canonical JSON document stored as a run artifact named by its own SHA-256
(``idaas-records/<sha256>.json`` in the run of the version it is about: content-addressed, so
the same name can never hold other bytes). A tag points at it: the tag's key is the record's
slot, unique and time-ordered (``<prefix><ns since epoch>.<random>``, so two writers never
overwrite each other), and its value is ``"<sha256> <run id>"``. Moves are tags of the
registered model, review revisions are tags of their version.

The records of one model form a hash-linked DAG: each record holds the digests of the records
that were the newest ones (the tips) when it was written, across moves and reviews of every
version. Two writers at the same moment each link to the same tips, and the next record links
to both; so concurrency never breaks the chain, while editing a record (its digest changes),
deleting one (a later record links to a digest that is gone) or reordering them (a link
points forward, or a record's content names another slot) does. A record that nothing links
to yet (the newest) is covered by its stored artifact: ``verify(..., stored=True)`` lists the
records stored in the versions' runs and reports any that no tag points at any more.

Nothing is ever overwritten or deleted here: a revision is a new record, and a move whose
alias could not follow is withdrawn by a ``retract`` record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry import store
from registry.lookup import get_model, quote, refused_for_permissions
from vision.errors import IdaasError

log = logging.getLogger(__name__)

ARTIFACT_DIR = "idaas-records"
SCHEMA = 1
MOVE_PREFIX = "idaas.move."
REVIEW_PREFIX = "idaas.review.rev."
TYPES = ("move", "review", "retract")


class PermissionRefused(IdaasError):
    """The registry refused a write (basic-auth: no EDIT permission)."""


@dataclass
class Record:
    key: str  # the tag that points at it
    digest: str
    run_id: str
    type: str  # move | review | retract
    model: str
    version: str  # the version the record is about
    prev: list[str]  # digests of the tips it saw when written
    body: dict[str, Any]

    @property
    def slot(self) -> str:
        """The time-ordered part of the key, comparable across moves and reviews."""
        return slot_of(self.key)


@dataclass
class Problem:
    """One thing wrong with a model's records; ``key`` is the tag concerned (or a digest)."""

    code: str  # record_edited | record_missing | record_out_of_order | record_deleted
    message: str
    key: str = ""
    version: str | None = None


@dataclass
class Chain:
    """Every record of a model, oldest first, with what is wrong with them."""

    name: str
    records: list[Record] = field(default_factory=list)  # intact ones only
    problems: list[Problem] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)  # tag key -> why it cannot be trusted

    def of(self, type_: str, version: str | None = None) -> list[Record]:
        return [r for r in self.records if r.type == type_ and (version is None or r.version == str(version))]

    @property
    def retracted(self) -> set[str]:
        return {r.body.get("retracts", "") for r in self.records if r.type == "retract"}

    def by_digest(self) -> dict[str, Record]:
        return {r.digest: r for r in self.records}

    def tips(self) -> list[str]:
        linked = {d for r in self.records for d in r.prev}
        return sorted(r.digest for r in self.records if r.digest not in linked)


def slot_of(key: str) -> str:
    for prefix in (MOVE_PREFIX, REVIEW_PREFIX):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def new_key(prefix: str) -> str:
    return f"{prefix}{time.time_ns():020d}.{uuid.uuid4().hex[:8]}"


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pointer(value: str) -> tuple[str, str] | None:
    parts = (value or "").split()
    if len(parts) == 2 and len(parts[0]) == 64 and all(c in "0123456789abcdef" for c in parts[0]):
        return parts[0], parts[1]
    return None


def _cache_dir() -> Path:
    return store.apply_offline_env().cache_dir / "records"


def _fetch(client, digest: str, run_id: str) -> bytes | None:
    """The stored bytes of a record, verified against its digest; None when absent or altered.

    Content-addressed, so a local copy that still hashes to its name is as good as the server's.
    """
    import requests
    from mlflow.exceptions import MlflowException

    cached = _cache_dir() / f"{digest}.json"
    try:
        data = cached.read_bytes()
        if digest_of(data) == digest:
            return data
    except OSError:
        pass
    with tempfile.TemporaryDirectory(prefix="idaas-record-") as tmp:
        try:
            local = client.download_artifacts(run_id, f"{ARTIFACT_DIR}/{digest}.json", tmp)
            data = Path(local).read_bytes()
        except (MlflowException, OSError) as exc:
            if refused_for_permissions(exc):
                raise
            if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
                # an unreachable registry must not read as a deleted record
                raise IdaasError(f"cannot read the records of run {run_id}: the registry did not answer") from None
            return None
        except Exception:  # noqa: BLE001 - a missing run or file reads as "not stored", whatever the store says
            return None
    if digest_of(data) != digest:
        return b""  # stored under this digest but with other bytes: edited in the store
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = cached.with_name(f".{digest}.{os.getpid()}.tmp")
    tmp_path.write_bytes(data)
    tmp_path.replace(cached)
    return data


def _collect(client, name: str) -> tuple[list[tuple[str, str | None, str]], list]:
    """(tag key, version or None for model tags, tag value) of every record tag, and the versions."""
    model = get_model(client, name)
    tags: list[tuple[str, str | None, str]] = [
        (k, None, v) for k, v in (model.tags or {}).items() if k.startswith(MOVE_PREFIX)
    ]
    versions = client.search_model_versions(f"name = '{quote(name)}'")
    for mv in versions:
        tags += [(k, str(mv.version), v) for k, v in (mv.tags or {}).items() if k.startswith(REVIEW_PREFIX)]
    return tags, versions


def verify(name: str, *, client=None, stored: bool | list[str] = False) -> Chain:
    """Read and check every record of ``name``. With ``stored`` (True, or some run ids), also
    list what the versions' runs hold and report stored records that no tag points at."""
    client = client or store.client()
    tags, versions = _collect(client, name)
    chain = Chain(name=name)
    candidates: list[Record] = []
    for key, version, value in sorted(tags, key=lambda t: slot_of(t[0])):
        where = f"{name} version {version}" if version else name
        what = "review revision" if version else "move"
        pointer = _pointer(value)
        if pointer is None:
            # A record written in place into the tag: edited with plain MLflow, or written before
            # records were chained. Either way nothing vouches for it.
            chain.broken[key] = "its tag holds a record written in place"
            chain.problems.append(
                Problem(
                    "record_edited",
                    f"{where}: {what} {key} was written in place into its "
                    "tag (edited, or recorded before records were chained): it cannot be "
                    "verified and is ignored",
                    key,
                    version,
                )
            )
            continue
        digest, run_id = pointer
        data = _fetch(client, digest, run_id)
        if not data:
            chain.broken[key] = "its stored record is gone" if data is None else "its stored record was altered"
            chain.problems.append(
                Problem(
                    "record_edited",
                    f"{where}: {what} {key} points at a record that "
                    + (
                        "is not stored (its tag was edited, or the record deleted)"
                        if data is None
                        else "was altered in the artifact store"
                    ),
                    key,
                    version,
                )
            )
            continue
        try:
            doc = json.loads(data)
            record = Record(
                key=key,
                digest=digest,
                run_id=run_id,
                type=doc["type"],
                model=doc["model"],
                version=str(doc["version"]),
                prev=list(doc["prev"]),
                body=dict(doc["body"]),
            )
        except (ValueError, KeyError, TypeError):
            chain.broken[key] = "its stored record is unreadable"
            chain.problems.append(Problem("record_edited", f"{where}: {what} {key} is unreadable", key, version))
            continue
        if (
            doc.get("key") != key
            or record.model != name
            or (version is not None and record.version != version)
            or (version is None) != (record.type != "review")
        ):
            chain.broken[key] = f"it holds the record of another slot ({doc.get('key')})"
            chain.problems.append(
                Problem(
                    "record_out_of_order",
                    f"{where}: {what} {key} holds the record written "
                    f"for {doc.get('model')} {doc.get('key')} (moved or copied)",
                    key,
                    version,
                )
            )
            continue
        candidates.append(record)
    seen: dict[str, Record] = {}
    everyone = {r.digest: r for r in candidates}
    for record in candidates:
        bad = []
        for link in record.prev:
            if link in seen:
                continue
            if link in everyone:
                bad.append(f"links to a later record ({everyone[link].key}): records were reordered")
            else:
                bad.append(f"links to record {link[:12]} that is gone (edited or deleted)")
        if bad:
            what = "review revision" if record.type == "review" else record.type
            where = f"{name} version {record.version}" if record.type == "review" else name
            chain.problems.append(
                Problem(
                    "record_missing" if "gone" in bad[0] else "record_out_of_order",
                    f"{where}: {what} {record.key} {bad[0]}",
                    record.key,
                    record.version if record.type == "review" else None,
                )
            )
            # the record itself is intact; the chain around it is what was tampered with
        seen[record.digest] = record
        chain.records.append(record)
    if stored:
        runs = sorted({mv.run_id for mv in versions if mv.run_id}) if stored is True else list(stored)
        chain.problems += _unattached(
            client, name, runs, {r.digest for r in chain.records} | {p[0] for _, _, v in tags if (p := _pointer(v))}
        )
    return chain


def _unattached(client, name: str, runs: list[str], pointed: set[str]) -> list[Problem]:
    """Records stored in the versions' runs that no tag points at: deleted or replaced tags."""
    problems = []
    for run_id in runs:
        try:
            files = client.list_artifacts(run_id, ARTIFACT_DIR)
        except Exception:  # noqa: BLE001 - a run without records (or a deleted run) has nothing to report
            continue
        for info in files:
            digest = Path(info.path).stem
            if info.is_dir or digest in pointed:
                continue
            data = _fetch(client, digest, run_id)
            try:
                doc = json.loads(data) if data else {}
            except ValueError:
                doc = {}
            if doc.get("model") != name:
                continue
            body = doc.get("body", {})
            if doc.get("type") == "move":
                what = (
                    f"the {body.get('stage')} move to version {body.get('version')} by {body.get('who')} "
                    f"at {body.get('when')}"
                )
            elif doc.get("type") == "review":
                what = (
                    f"a review revision of version {doc.get('version')} by {body.get('recorded_by')} "
                    f"at {body.get('recorded_at')}"
                )
            else:
                what = f"a {doc.get('type')} record"
            problems.append(
                Problem(
                    "record_deleted",
                    f"{name}: {what} is stored but no tag points at it any more "
                    f"(deleted or replaced; tag {doc.get('key')})",
                    digest,
                    str(doc.get("version")) if doc.get("type") == "review" else None,
                )
            )
    return problems


def append(name: str, type_: str, version: str | int, body: dict[str, Any], *, client=None, actor: str = "") -> Record:
    """Store a record and point a new tag at it; returns it. Nothing existing is touched."""
    from mlflow.exceptions import MlflowException

    if type_ not in TYPES:
        raise ValueError(type_)
    client = client or store.client()
    mv = client.get_model_version(name, str(version))
    if not mv.run_id:
        raise IdaasError(f"{name} version {mv.version} has no run to hold its records (registered outside idaas)")
    key = new_key(REVIEW_PREFIX if type_ == "review" else MOVE_PREFIX)
    tips = verify(name, client=client).tips()
    doc = {
        "schema": SCHEMA,
        "type": type_,
        "model": name,
        "version": str(mv.version),
        "key": key,
        "prev": tips,
        "body": body,
    }
    data = canonical(doc)
    digest = digest_of(data)
    action = {"move": "moving a stage of", "review": "reviewing", "retract": "withdrawing a move of"}[type_]
    try:
        with tempfile.TemporaryDirectory(prefix="idaas-record-") as tmp:
            local = Path(tmp) / f"{digest}.json"
            local.write_bytes(data)
            client.log_artifact(mv.run_id, str(local), ARTIFACT_DIR)
        if type_ == "review":
            client.set_model_version_tag(name, str(mv.version), key, f"{digest} {mv.run_id}")
        else:
            client.set_registered_model_tag(name, key, f"{digest} {mv.run_id}")
    except (MlflowException, OSError) as exc:  # the artifact proxy's 403 arrives as requests' HTTPError (an OSError)
        if refused_for_permissions(exc):
            raise PermissionRefused(
                f"the registry refused {actor or store.current_user()!r} {action} {name}"
                f"{' version ' + str(mv.version) if type_ == 'review' else ''}: permission denied "
                "(this needs EDIT permission on the model and on the idaas experiment)"
            ) from None
        raise
    return Record(
        key=key, digest=digest, run_id=mv.run_id, type=type_, model=name, version=str(mv.version), prev=tips, body=body
    )
