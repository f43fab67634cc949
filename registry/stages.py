"""Stages as aliases: ``candidate`` -> ``staging`` -> ``production``, moved through the gate,
each move recorded (registry/history.py), and ``rollback`` to the previous production version.

MLflow's stage API (transition_model_version_stage) is deprecated and never used here.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry import store
from registry.gate import evaluate
from registry.history import STAGES, Move, moves, record_move, recorded_holder
from registry.lookup import aliases, get_model, get_version
from vision.errors import IdaasError


class GateRefused(IdaasError):
    """A version lacks what a stage requires; ``missing`` lists each piece."""

    def __init__(self, name: str, version: str, stage: str, missing: list[str]):
        self.missing = missing
        numbered = "; ".join(f"({i}) {m}" for i, m in enumerate(missing, start=1))
        super().__init__(f"{name} version {version} cannot go to {stage}: {numbered}")


@dataclass(frozen=True)
class Outcome:
    move: Move | None  # None when the version already held the stage
    holder: str | None  # who holds the alias once the move settled

    @property
    def superseded(self) -> bool:
        """True when a concurrent move recorded after this one took the alias."""
        return self.move is not None and self.holder != self.move.version


def promote(name: str, version: str | int, to: str, *, reason: str = "", force: bool = False) -> Outcome:
    """Move ``to``'s alias to ``version`` if the gate allows it (or ``force`` with a reason).

    The gate runs even when the alias already points at the version: an alias set with plain
    MLflow is not a promotion. When the gate passes and no intact recorded move gave the version
    this stage, the move is recorded now; otherwise it is a no-op.
    """
    if to not in STAGES:
        raise IdaasError(f"unknown stage {to!r}; stages are {', '.join(STAGES)}")
    if force and not reason.strip():
        raise IdaasError('--force needs --reason "why the gate is overridden"; it is recorded in the history')
    client = store.client()
    mv = get_version(client, name, version)
    version = str(mv.version)
    holder = aliases(get_model(client, name)).get(to)
    missing, approved = evaluate(name, version, to)
    if missing and not force:
        if holder == version:
            missing = [
                f"{to} points at version {version} but no gate was passed to put it there "
                "(the alias was set outside idaas)",
                *missing,
            ]
        raise GateRefused(name, version, to, missing)
    if holder == version and recorded_holder(name, to) == version:
        return Outcome(move=None, holder=version)
    move = record_move(
        name,
        to,
        version,
        why=reason,
        kind="promote",
        forced=force,
        overrode=missing if force else [],
        review=approved.digest if approved is not None else None,
        thresholds=approved.thresholds if approved is not None else None,
    )
    return Outcome(move=move, holder=aliases(get_model(client, name)).get(to))


def production_line(records: list[Move]) -> list[str]:
    """The versions that held a stage, as a stack: promotions push, rollbacks pop."""
    stack: list[str] = []
    for move in records:
        if move.kind == "rollback" and stack:
            stack.pop()
            if stack and stack[-1] == move.version:
                continue
        if not stack or stack[-1] != move.version:
            stack.append(move.version)
    return stack


def rollback(name: str, *, stage: str = "production", reason: str = "") -> Outcome:
    """Give ``stage`` back to the version that held it before the current one."""
    if stage not in STAGES:
        raise IdaasError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    client = store.client()
    current = aliases(get_model(client, name)).get(stage)
    if current is None:
        raise IdaasError(f"{name} has no {stage} version to roll back")
    line = production_line(moves(name, stage))
    if len(line) < 2:
        raise IdaasError(f"{name} has no earlier {stage} version to roll back to (only version {current} held it)")
    target = line[-2]
    get_version(client, name, target)  # refuses a version that was deleted since
    move = record_move(name, stage, target, why=reason or f"rollback from version {current}", kind="rollback")
    return Outcome(move=move, holder=aliases(get_model(client, name)).get(stage))
