"""Impact reviews: the record that decides whether the business invests in a model version.

A review is validated against ImpactReview and attached to a model version. Every revision is
kept as an append-only, hash-linked record (registry/records.py: two reviewers saving at once
both keep their revision, and an edited or deleted revision shows); the latest intact one is
the review. Mirrors of the latest decision
(a searchable tag) and a markdown rendering (the version description) make it visible in the
MLflow UI and findable with ``idaas reviews list --decision productionise``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from registry import records, store
from registry.lookup import get_version
from vision.errors import IdaasError

DECISIONS = ("prototype", "invest", "productionise", "reject")
TEMPLATE = Path(__file__).with_name("review_template.yaml")

REVISION_PREFIX = records.REVIEW_PREFIX
TAG_DECISION = "idaas.review.decision"
TAG_REVISION = "idaas.review.revision"
_SETTLE_ROUNDS = 50


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpectedImpact(_Strict):
    low: float = Field(description="low end of the expected change of the business metric")
    high: float = Field(description="high end of the expected change")
    unit: str = Field(min_length=1, description="e.g. '% likes per profile', 'minutes of review time per day'")
    description: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> ExpectedImpact:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not be above high ({self.high})")
        return self


class EvaluationData(_Strict):
    dataset: str = Field(min_length=1)
    version: str = Field(min_length=1, description="the data version (DVC revision, dataset tag, date)")
    size: int | None = Field(None, ge=0, description="number of images")
    description: str = ""


class Risk(_Strict):
    area: str = Field(min_length=1, description="privacy, fairness, safety, legal ...")
    description: str = Field(min_length=1)
    mitigation: str = ""


class ImpactReview(_Strict):
    question: str = Field(min_length=1, description="the business question the model answers")
    business_metric: str = Field(min_length=1)
    expected_impact: ExpectedImpact
    evaluation: EvaluationData
    metrics: dict[str, float] = Field(default_factory=dict, description="metric -> value on the evaluation data")
    risks: list[Risk] = Field(default_factory=list)
    decision: Literal["prototype", "invest", "productionise", "reject"]
    reviewer: str = Field(min_length=1)
    date: date
    notes: str = ""
    # Written by a machine (the training pipeline, `models derive`), not signed by a person: shown
    # as "DRAFT — not reviewed" until someone attaches their own review (which leaves this false).
    draft: bool = False


class ReviewRevision(BaseModel):
    revision: int = 0
    review: ImpactReview
    recorded_by: str
    recorded_at: str
    # the digest of every file of the version's model folder when the review was recorded
    # (registry.members.artifact_digest): the review is of these bytes, not of a version number
    artifacts: str | None = None
    key: str = ""
    digest: str = ""  # the SHA-256 of its record (registry/records.py)


def _one_line(errors: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err["loc"]) or "review"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


_PLACEHOLDER = re.compile(r"^\s*<[^<>]+>\s*$")


def placeholders(data: Any, where: str = "") -> list[str]:
    """The fields of a review that still hold a template placeholder (`<question: ...>`)."""
    if isinstance(data, dict):
        found = []
        for key, value in data.items():
            path = f"{where}.{key}" if where else str(key)
            found += [path] if _PLACEHOLDER.match(str(key)) else placeholders(value, path)
        return found
    if isinstance(data, list):
        return [p for i, item in enumerate(data) for p in placeholders(item, f"{where}[{i}]")]
    return [where] if isinstance(data, str) and _PLACEHOLDER.match(data) else []


def parse_review(data: Any, source: str = "review") -> ImpactReview:
    if isinstance(data, ImpactReview):
        return data
    if not isinstance(data, dict):
        raise IdaasError(f"{source}: an impact review is a mapping of fields (see `idaas reviews template`)")
    left = placeholders(data)
    if left:
        raise IdaasError(
            f"{source} still has template placeholders in: {', '.join(left)}; "
            "replace each <...> with your own answer, then run the command again"
        )
    try:
        return ImpactReview.model_validate(data)
    except ValidationError as exc:
        raise IdaasError(f"{source} is not a valid impact review: {_one_line(exc.errors())}") from None


def load_review_file(path: Path) -> ImpactReview:
    """Read a review from YAML (or JSON) with every problem named on one line."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise IdaasError(f"no review file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IdaasError(f"cannot read {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise IdaasError(f"{path} is not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    return parse_review(data, str(path))


def template_text() -> str:
    return TEMPLATE.read_text()


def revisions_of(chain: records.Chain, version: str | int) -> list[ReviewRevision]:
    """The intact revisions of a version's review in a verified chain, oldest first."""
    out = []
    for n, record in enumerate(chain.of("review", str(version)), start=1):
        try:
            rev = ReviewRevision.model_validate(record.body)
        except ValidationError:
            continue
        out.append(rev.model_copy(update={"revision": n, "key": record.key, "digest": record.digest}))
    return out


def review_problems(chain: records.Chain, version: str | int) -> list[str]:
    """What makes a version's review untrustworthy: an edited, deleted or reordered revision."""
    version = str(version)
    own = {r.key for r in chain.of("review", version)}
    return [p.message for p in chain.problems if p.version == version or (p.key in own)]


def revisions(name: str, version: str | int) -> list[ReviewRevision]:
    """Every intact revision of a version's review, oldest first."""
    mv = get_version(store.client(), name, version)
    return revisions_of(records.verify(name), mv.version)


def current_review(name: str, version: str | int) -> ReviewRevision | None:
    found = revisions(name, version)
    return found[-1] if found else None


def set_review(name: str, version: str | int, review: ImpactReview | dict | Path) -> ReviewRevision:
    """Append a new revision of the review to a version; earlier revisions are kept."""
    review = load_review_file(review) if isinstance(review, Path) else parse_review(review)
    client = store.client()
    mv = get_version(client, name, version)
    from registry.members import artifact_digest

    record = ReviewRevision(
        review=review,
        recorded_by=store.current_user(),
        recorded_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        artifacts=artifact_digest(name, mv.version),
    )
    stored = records.append(
        name,
        "review",
        mv.version,
        record.model_dump(mode="json", exclude={"key", "revision", "digest"}),
        client=client,
        actor=record.recorded_by,
    )
    settled = _settle(client, name, str(mv.version), stored.key)
    from registry.descriptions import refresh_quietly

    refresh_quietly(name)  # a router's description shows its members' reviews: those change too
    return settled


def _settle(client, name: str, version: str, key: str) -> ReviewRevision:
    # Point the mirrors (decision tag, description) at the latest revision, re-reading until
    # they agree, so concurrent revisions end with the mirrors showing the last one. The mirrors
    # are for the MLflow UI and search only: every decision idaas takes reads the records.
    from registry.versions import TAG_DESCRIPTION

    for _ in range(_SETTLE_ROUNDS):
        mv = client.get_model_version(name, version)
        found = revisions_of(records.verify(name, client=client), version)
        latest = found[-1]
        description = render_description(mv.tags.get(TAG_DESCRIPTION, ""), latest, thresholds_for(name))
        if (
            mv.tags.get(TAG_REVISION) == latest.key
            and mv.tags.get(TAG_DECISION) == latest.review.decision
            and (mv.description or "") == description
        ):
            return next(r for r in found if r.key == key)
        client.set_model_version_tag(name, version, TAG_DECISION, latest.review.decision)
        client.update_model_version(name, version, description=description)
        client.set_model_version_tag(name, version, TAG_REVISION, latest.key)
    raise IdaasError(f"{name} version {version}: the review kept changing under concurrent edits; try again")


def list_reviews(decision: str | None = None, name: str | None = None) -> list[tuple[str, str, ReviewRevision]]:
    """(model, version, latest intact revision) for every reviewed version, optionally by decision.

    Read from the records, not from the decision tag (a mirror anyone with EDIT can set).
    """
    if decision is not None and decision not in DECISIONS:
        raise IdaasError(f"unknown decision {decision!r}; decisions are {', '.join(DECISIONS)}")
    from registry.lookup import all_models

    client = store.client()
    names = [name] if name else all_models(client)
    out = []
    for model in sorted(names):
        chain = records.verify(model, client=client)
        for version in sorted({r.version for r in chain.of("review")}, key=int):
            revs = revisions_of(chain, version)
            if revs and (decision is None or revs[-1].review.decision == decision):
                out.append((model, version, revs[-1]))
    return out


def thresholds_for(name: str) -> dict[str, float]:
    """What the production gate requires: the catalog's thresholds, else the model's own tag."""
    from registry.catalog import load_catalog
    from registry.versions import TAG_THRESHOLDS

    catalog = load_catalog()
    if name in catalog.names():
        return dict(catalog.get(name).thresholds)
    model = store.client().get_registered_model(name)
    raw = model.tags.get(TAG_THRESHOLDS)
    return {k: float(v) for k, v in json.loads(raw).items()} if raw else {}


def render_markdown(revision: ReviewRevision, thresholds: dict[str, float] | None = None) -> str:
    r = revision.review
    thresholds = thresholds or {}
    impact = r.expected_impact
    state = "DRAFT — not reviewed" if r.draft else f"**{r.decision}**"
    lines = [
        f"## Impact review — revision {revision.revision}: {state}",
        "",
        f"**Question.** {r.question}",
        "",
        f"**Business metric.** {r.business_metric}; expected impact {impact.low:g} to {impact.high:g} {impact.unit}"
        + (f" ({impact.description})" if impact.description else ""),
        "",
        f"**Evaluation data.** {r.evaluation.dataset} @ {r.evaluation.version}"
        + (f", {r.evaluation.size} images" if r.evaluation.size is not None else "")
        + (f" — {r.evaluation.description}" if r.evaluation.description else ""),
    ]
    names = list(dict.fromkeys([*r.metrics, *thresholds]))
    if names:
        lines += ["", "| metric | value | gate threshold |", "|---|---|---|"]
        for metric in names:
            value = r.metrics.get(metric)
            limit = thresholds.get(metric)
            lines.append(
                f"| {metric} | {'—' if value is None else f'{value:g}'} | {'—' if limit is None else f'>= {limit:g}'} |"
            )
    if r.risks:
        lines += ["", "**Risks.**"]
        lines += [
            f"- *{risk.area}*: {risk.description}" + (f" — mitigation: {risk.mitigation}" if risk.mitigation else "")
            for risk in r.risks
        ]
    if r.draft:
        lines += [
            "",
            f"**Decision.** DRAFT — not reviewed: written by a machine for {revision.recorded_by} at "
            f"{revision.recorded_at} (decision {r.decision} until a person decides); nobody has signed it. "
            "Complete it from `idaas reviews show` and sign it with `idaas reviews set`.",
        ]
    else:
        lines += [
            "",
            f"**Decision.** {r.decision}, by {r.reviewer} on {r.date.isoformat()} "
            f"(recorded by {revision.recorded_by} at {revision.recorded_at}).",
        ]
    if r.notes:
        lines += ["", r.notes]
    return "\n".join(lines)


def render_description(base: str, revision: ReviewRevision, thresholds: dict[str, float] | None = None) -> str:
    return f"{base.strip()}\n\n{render_markdown(revision, thresholds)}".strip()
