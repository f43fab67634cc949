"""The history of a model's stages: every alias move, who made it, when, from which version, why.

Each move is its own registered-model tag with a unique, time-ordered key
(``idaas.move.<ns since epoch>.<random>``), so two people promoting at once each add a record
and neither overwrites the other. The alias then follows the records: after writing its
record, a process sets the alias to the version of the latest record for that stage and
re-reads until alias and latest record agree. Whatever the interleaving, the last process to
touch the alias does so after seeing every record written before it, so the final alias
holder is the latest recorded move.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ValidationError

from vision.errors import IdaasError

from registry import store
from registry.lookup import aliases, get_model, refused_for_permissions

log = logging.getLogger(__name__)

STAGES = ("candidate", "staging", "production")
MOVE_PREFIX = "idaas.move."
_SETTLE_ROUNDS = 50


class Move(BaseModel):
    stage: str
    version: str
    previous: str | None = None  # the alias holder when the move was made
    who: str
    when: str  # ISO 8601, UTC
    why: str = ""
    kind: Literal["register", "promote", "rollback"] = "promote"
    forced: bool = False
    overrode: list[str] = []  # what the gate said was missing, when forced
    key: str = ""  # the tag that holds this record (filled in when read)

    def line(self) -> str:
        arrow = f"{self.previous or '-'} -> {self.version}"
        flags = " FORCED" if self.forced else ""
        why = f"  \"{self.why}\"" if self.why else ""
        return f"{self.when}  {self.stage:<10} {arrow:<10} {self.kind:<8} by {self.who}{flags}{why}"


def _parse(tags: dict[str, str]) -> list[Move]:
    moves = []
    for key in sorted(k for k in tags if k.startswith(MOVE_PREFIX)):
        try:
            moves.append(Move.model_validate_json(tags[key]).model_copy(update={"key": key}))
        except ValidationError:
            log.warning("ignoring unreadable history record %s", key)
    return moves


def moves(name: str, stage: str | None = None) -> list[Move]:
    """Every recorded move of a model, oldest first (optionally of one stage)."""
    found = _parse(get_model(store.client(), name).tags)
    return [m for m in found if stage is None or m.stage == stage]


def alias_holder(name: str, stage: str) -> str | None:
    return aliases(get_model(store.client(), name)).get(stage)


def record_move(name: str, stage: str, version: str | int, *, why: str = "", kind: str = "promote",
                forced: bool = False, overrode: list[str] | None = None, who: str | None = None) -> Move:
    """Record a move and point the alias at the latest recorded move of that stage."""
    from mlflow.exceptions import MlflowException

    if stage not in STAGES:
        raise IdaasError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    client = store.client()
    model = get_model(client, name)
    move = Move(stage=stage, version=str(version), previous=aliases(model).get(stage), who=who or store.current_user(),
                when=datetime.now(timezone.utc).isoformat(timespec="milliseconds"), why=why, kind=kind,
                forced=forced, overrode=list(overrode or []))
    key = f"{MOVE_PREFIX}{time.time_ns():020d}.{uuid.uuid4().hex[:8]}"
    try:
        client.set_registered_model_tag(name, key, move.model_dump_json(exclude={"key"}))
    except MlflowException as exc:
        if refused_for_permissions(exc):
            raise IdaasError(f"the registry refused {move.who!r} moving {stage} of {name}: permission denied "
                             "(this needs EDIT permission on the model)") from None
        raise
    try:
        settle(client, name, stage)
    except Exception:
        # The alias could not follow (permissions, a deleted version): take the record back so
        # the history never claims a move that did not happen.
        try:
            client.delete_registered_model_tag(name, key)
            settle(client, name, stage)
        except (MlflowException, IdaasError):
            log.warning("%s: could not take back history record %s", name, key)
        raise
    return move.model_copy(update={"key": key})


def settle(client, name: str, stage: str) -> str | None:
    """Set the alias to the latest recorded move's version until a fresh read agrees."""
    for _ in range(_SETTLE_ROUNDS):
        model = client.get_registered_model(name)
        latest = [m for m in _parse(model.tags) if m.stage == stage]
        if not latest:
            return aliases(model).get(stage)
        wanted = latest[-1].version
        if aliases(model).get(stage) == wanted:
            return wanted
        client.set_registered_model_alias(name, stage, wanted)
    raise IdaasError(f"{name}: the {stage} alias kept changing under concurrent moves; run the command again")
