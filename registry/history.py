"""The history of a model's stages: every alias move, who made it, when, from which version, why,
and what the gate relied on (the digest of the review it passed on, the thresholds it applied).

Each move is an append-only record (registry/records.py): two people promoting at once each
add one and neither overwrites the other. The alias then follows the records: after writing
its record, a process sets the alias to the version of the latest record for that stage and
re-reads until alias and latest record agree. Whatever the interleaving, the last process to
touch the alias does so after seeing every record written before it, so the final alias
holder is the latest recorded move. Only intact records count; a move whose alias could not
follow is withdrawn by a retract record, never deleted.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

from mlflow.exceptions import MlflowException
from pydantic import BaseModel, ValidationError

from registry import records, store
from registry.lookup import aliases, get_model
from vision.errors import IdaasError

log = logging.getLogger(__name__)

STAGES = ("candidate", "staging", "production")
MOVE_PREFIX = records.MOVE_PREFIX
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
    review: str | None = None  # digest of the review record the gate passed on
    thresholds: dict[str, float] = {}  # what the gate required
    key: str = ""  # the tag that holds this record (filled in when read)
    digest: str = ""

    def line(self) -> str:
        arrow = f"{self.previous or '-'} -> {self.version}"
        flags = " FORCED" if self.forced else ""
        why = f'  "{self.why}"' if self.why else ""
        return f"{self.when}  {self.stage:<10} {arrow:<10} {self.kind:<8} by {self.who}{flags}{why}"


_STORED = {"key", "digest"}


def moves_of(chain: records.Chain, stage: str | None = None) -> list[Move]:
    """The intact, not withdrawn moves of a verified chain, oldest first."""
    out = []
    withdrawn = chain.retracted
    for record in chain.of("move"):
        if record.digest in withdrawn:
            continue
        try:
            move = Move.model_validate({**record.body, "key": record.key, "digest": record.digest})
        except ValidationError:
            log.warning("ignoring unreadable history record %s", record.key)
            continue
        if stage is None or move.stage == stage:
            out.append(move)
    return out


def moves(name: str, stage: str | None = None) -> list[Move]:
    """Every intact recorded move of a model, oldest first (optionally of one stage)."""
    return moves_of(records.verify(name), stage)


def recorded_holder(name: str, stage: str, chain: records.Chain | None = None) -> str | None:
    """The version the latest intact recorded move gave ``stage`` (what the alias should say)."""
    found = moves_of(chain or records.verify(name), stage)
    return found[-1].version if found else None


def alias_holder(name: str, stage: str) -> str | None:
    return aliases(get_model(store.client(), name)).get(stage)


def record_move(
    name: str,
    stage: str,
    version: str | int,
    *,
    why: str = "",
    kind: str = "promote",
    forced: bool = False,
    overrode: list[str] | None = None,
    review: str | None = None,
    thresholds: dict[str, float] | None = None,
) -> Move:
    """Record a move and point the alias at the latest recorded move of that stage."""
    if stage not in STAGES:
        raise IdaasError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    client = store.client()
    model = get_model(client, name)
    move = Move(
        stage=stage,
        version=str(version),
        previous=aliases(model).get(stage),
        who=store.current_user(),
        when=datetime.now(UTC).isoformat(timespec="milliseconds"),
        why=why,
        kind=kind,
        forced=forced,
        overrode=list(overrode or []),
        review=review,
        thresholds=dict(thresholds or {}),
    )
    record = records.append(
        name, "move", move.version, move.model_dump(mode="json", exclude=_STORED), client=client, actor=move.who
    )
    try:
        settle(client, name, stage)
    except Exception:
        # The alias could not follow (permissions, a deleted version): withdraw the record so the
        # history never claims a move that did not happen (appended, nothing deleted).
        try:
            records.append(
                name,
                "retract",
                move.version,
                {"retracts": record.digest, "why": "the alias could not follow"},
                client=client,
            )
            settle(client, name, stage)
        except Exception:  # noqa: BLE001 - report the first failure, not this one
            log.warning("%s: could not withdraw history record %s", name, record.key)
        raise
    from registry.descriptions import refresh_quietly

    refresh_quietly(name)  # the history and alias holders people read in the MLflow UI
    return move.model_copy(update={"key": record.key, "digest": record.digest})


def settle(client, name: str, stage: str) -> str | None:
    """Set the alias to the latest recorded move's version until a fresh read agrees."""
    for _ in range(_SETTLE_ROUNDS):
        wanted = recorded_holder(name, stage, records.verify(name, client=client))
        current = aliases(client.get_registered_model(name)).get(stage)
        if wanted is None:
            return current
        if current == wanted:
            return wanted
        try:
            client.set_registered_model_alias(name, stage, wanted)
        except MlflowException as exc:
            # Two writers setting one alias at once: MLflow's server replaces an alias with a
            # delete and an insert, and on PostgreSQL the loser's insert hits the primary key.
            # The other writer's alias is in place; the next round reads it and decides again.
            if "already exists" not in exc.message and "UniqueViolation" not in exc.message:
                raise
    raise IdaasError(f"{name}: the {stage} alias kept changing under concurrent moves; run the command again")
