"""Per-user answers from per-photo answers: the question is about users, not photos.

One row per user: photos, photos with faces, photos where the attribute holds, photos where
it does not, photos where every face abstained (unknown), photo errors, and the user's
verdict under a rule:

  all    yes when every photo with a face shows the attribute; no as soon as one does not
  any    yes when one photo with a face shows it; no when every one was read and none does
  share  yes when at least ``share`` of the photos with faces show it (counting unknowns as
         not showing it), no when it stays under ``share`` even if every unknown showed it

A user is ``unknown`` whenever the abstentions could change the verdict, and when no photo
of theirs shows a face: an abstention is never a no. A photo shows the attribute when one of
its faces does (which face is the user is not known from the photo).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pandas as pd

Rule = Literal["all", "any", "share"]
RULES: tuple[str, ...] = ("all", "any", "share")
COLUMNS = ("photos", "photos_with_faces", "photos_yes", "photos_no", "photos_unknown", "photo_errors", "verdict")


def photo_state(faces_answer: Any, attribute: str, threshold: float = 0.5) -> str:
    """One photo's faces answer -> "yes" | "no" | "unknown" | "no_face" | "error"."""
    if isinstance(faces_answer, str):
        faces_answer = json.loads(faces_answer)
    if not isinstance(faces_answer, dict) or "error" in faces_answer:
        return "error"
    faces = faces_answer.get("faces") or []
    if not faces:
        return "no_face"
    values = [(face.get("attributes") or {}).get(attribute) for face in faces]
    if any(v is not None and v >= threshold for v in values):
        return "yes"
    # An attribute the model does not score at all is unknown too, never a silent no.
    return "unknown" if any(v is None for v in values) else "no"


def verdict(yes: int, no: int, unknown: int, rule: Rule, share: float = 0.5) -> str:
    """The user's yes / no / unknown from their photos-with-faces counts."""
    seen = yes + no + unknown
    if seen == 0:
        return "unknown"
    if rule == "all":
        return "no" if no else ("unknown" if unknown else "yes")
    if rule == "any":
        return "yes" if yes else ("unknown" if unknown else "no")
    if rule == "share":
        if yes / seen >= share:
            return "yes"
        return "no" if (yes + unknown) / seen < share else "unknown"
    raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")


def per_user(
    scored: pd.DataFrame,
    *,
    user_column: str = "user_id",
    attribute: str = "sunglasses",
    rule: Rule = "all",
    threshold: float = 0.5,
    share: float = 0.5,
    users: pd.DataFrame | None = None,
    on: str = "path",
) -> pd.DataFrame:
    """One row per user (COLUMNS), indexed by ``user_column``.

    ``scored``: rows of `idaas score` / ``notebook_api.score`` (a ``faces`` column, dict or
    JSON text). The user of each photo comes from ``scored[user_column]`` or, when ``users`` is
    given, from that table joined on ``on`` (a user manifest: ``path,user_id``); a photo of
    the manifest that was not scored counts as an error, not as a photo without a face.
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")
    frame = scored
    if users is not None:
        missing = [c for c in (on, user_column) if c not in users.columns]
        if missing:
            raise ValueError(f"the user manifest has no column(s) {missing}; it has {list(users.columns)}")
        frame = users[[on, user_column]].merge(scored.drop(columns=[user_column], errors="ignore"), on=on, how="left")
    if user_column not in frame.columns:
        raise ValueError(f"no {user_column!r} column: pass a user manifest or score a manifest that has it")
    if "faces" not in frame.columns:
        raise ValueError("the scores have no 'faces' column: score the photos with the faces task")
    states = [photo_state(a, attribute, threshold) if isinstance(a, (dict, str)) else "error" for a in frame["faces"]]
    table = pd.crosstab(
        frame[user_column], pd.Categorical(states, ["yes", "no", "unknown", "no_face", "error"]), dropna=False
    )
    out = pd.DataFrame(
        {
            "photos": table.sum(axis=1),
            "photos_with_faces": table["yes"] + table["no"] + table["unknown"],
            "photos_yes": table["yes"],
            "photos_no": table["no"],
            "photos_unknown": table["unknown"],
            "photo_errors": table["error"],
        }
    )
    out["verdict"] = [verdict(r.photos_yes, r.photos_no, r.photos_unknown, rule, share) for r in out.itertuples()]
    out.index.name = user_column
    return out
