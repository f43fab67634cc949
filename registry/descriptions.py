"""The story a person reads in MLflow's UI, rendered from the records into the descriptions.

A registered model's description gets its stage history (who moved which version where, when,
why, the gate's verdict) and the current alias holders; a version's description gets its own
moves and a link to its training run; a router version's description links each member version
and its review. Everything after MARK is rewritten on every move and review, so it is always
current; the records (tags) stay the machine record, and every decision reads them, never this.
"""

from __future__ import annotations

import logging
import re

from registry import records, store
from registry.history import STAGES, Move, moves_of
from registry.lookup import aliases, versions_of
from registry.reviews import revisions_of

log = logging.getLogger(__name__)

MARK = "<!-- idaas: the text below is rewritten from the records on every move and review -->"
ROUTER_KIND = "router"
# `@production` in markdown becomes a link to a GitHub user in MLflow's UI; code spans stay text.
_ALIAS_MENTION = re.compile(r"(?<![`\w])@(" + "|".join(STAGES) + r")\b")


def plain_aliases(text: str) -> str:
    return _ALIAS_MENTION.sub(r"`@\1`", text)


def version_link(name: str, version: str) -> str:
    return f"[{name} version {version}](#/models/{name}/versions/{version})"


def run_link(client, run_id: str | None) -> str:
    if not run_id:
        return "none (registered from files, not from a run)"
    try:
        info = client.get_run(run_id).info
    except Exception:  # noqa: BLE001 - a deleted run still gets named
        return f"`{run_id}` (no longer in the tracking store)"
    return f"[{info.run_name or run_id}](#/experiments/{info.experiment_id}/runs/{run_id}) (`{run_id}`)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "—"


def _when(move: Move) -> str:
    return move.when[:19].replace("T", " ")


def gate_verdict(move: Move) -> str:
    if move.kind == "register":
        return "registered"
    if move.kind == "rollback":
        return "rollback (back to an earlier holder)"
    if move.forced:
        return "FORCED past the gate: " + "; ".join(move.overrode or ["(nothing recorded)"])
    needs = ", ".join(f"{k} >= {v:g}" for k, v in move.thresholds.items())
    review = f"review `{move.review[:12]}`" if move.review else "no review required"
    return "passed: " + review + (f"; {needs}" if needs else "")


def _history_table(name: str, moves: list[Move]) -> list[str]:
    lines = ["| when (UTC) | stage | from | to | by | why | gate |", "|---|---|---|---|---|---|---|"]
    for m in moves:
        previous = version_link(name, m.previous) if m.previous else "—"
        lines.append(
            f"| {_when(m)} | `{m.stage}` | {previous} | {version_link(name, m.version)} | {_cell(m.who)} "
            f"| {_cell(m.why)} | {_cell(gate_verdict(m))} |"
        )
    return lines


def model_story(name: str, holders: dict[str, str], moves: list[Move]) -> str:
    lines = ["### Stages now", ""]
    for stage in STAGES:
        if stage in holders:
            last = next((m for m in reversed(moves) if m.stage == stage and m.version == holders[stage]), None)
            since = f" since {_when(last)} (moved by {last.who})" if last else " (no recorded move: `idaas audit`)"
            lines.append(f"- `{stage}`: {version_link(name, holders[stage])}{since}")
        else:
            lines.append(f"- `{stage}`: none")
    lines += ["", "### Stage history", ""]
    lines += _history_table(name, moves) if moves else ["No recorded moves yet."]
    return "\n".join(lines)


def version_story(client, name: str, mv, holders: dict[str, str], moves: list[Move], chain) -> str:
    version = str(mv.version)
    held = [f"`{stage}`" for stage, v in holders.items() if v == version]
    lines = [
        "### This version",
        "",
        f"- stages now: {', '.join(held) or 'none'}",
        f"- training run: {run_link(client, mv.run_id)}",
        f"- all versions and the full stage history: [{name}](#/models/{name})",
    ]
    if (mv.tags or {}).get("idaas.kind") == ROUTER_KIND:
        lines += ["", "### Members", "", "| task | model version | review |", "|---|---|---|"]
        for task, member, member_version in _members(name, version):
            lines.append(
                f"| {task} | {version_link(member, member_version)} | {_review_line(client, member, member_version)} |"
            )
    own = [m for m in moves if version in (m.version, m.previous)]
    lines += ["", "### Moves of this version", ""]
    lines += _history_table(name, own) if own else ["None yet."]
    return "\n".join(lines)


def _members(name: str, version: str) -> list[tuple[str, str, str]]:
    from registry.members import bundle_entries

    return sorted(bundle_entries(name, version))


def _review_line(client, name: str, version: str) -> str:
    revs = revisions_of(records.verify(name, client=client), version)
    if not revs:
        return "no review"
    r = revs[-1].review
    state = "DRAFT — not reviewed" if r.draft else f"**{r.decision}** by {_cell(r.reviewer)} on {r.date.isoformat()}"
    return f"[{state}](#/models/{name}/versions/{version})"


def _with_story(current: str | None, story: str) -> str:
    base = plain_aliases((current or "").split(MARK)[0].strip())
    return f"{base}\n\n{MARK}\n\n{story}".strip()


def refresh(name: str, client=None) -> None:
    """Rewrite the model's and every version's story from the records."""
    client = client or store.client()
    chain = records.verify(name, client=client)
    model = client.get_registered_model(name)
    holders = aliases(model)
    moves = moves_of(chain)
    text = _with_story(model.description, model_story(name, holders, moves))
    if text != (model.description or ""):
        client.update_registered_model(name, description=text)
    for mv in versions_of(client, name):
        text = _with_story(mv.description, version_story(client, name, mv, holders, moves, chain))
        if text != (mv.description or ""):
            client.update_model_version(name, mv.version, description=text)


def refresh_quietly(name: str) -> None:
    """refresh(), for hooks after a move or review: the story is a mirror, and failing to
    write it (a read-only description, a deleted version) must not undo what was recorded."""
    try:
        refresh(name)
    except Exception as exc:  # noqa: BLE001 - logged, never raised: see above
        log.warning("%s: could not rewrite the descriptions shown in the MLflow UI: %s", name, exc)
