"""The gates a version must pass to take a stage; each missing piece is its own message.

To ``production``: an intact impact review (no revision edited, deleted or reordered), signed
by a person (not a machine's draft), whose decision is ``productionise``; the review's metrics
at or above the thresholds the catalog declares for the model; when the catalog asks for
separation of duties, a promoter who is not the review's only author; when another version
holds ``production`` by a recorded move, a recorded champion/challenger comparison against it;
and, for a bundle of several models (the router), every member's own review passing the same
checks.
To ``staging``: a version whose review (if any) is intact and not ``reject``.

The same checks run where models are used: `idaas router build` (registry.approval for each
member) and `idaas serve` (registry/servable.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from registry import records, store
from registry.compare import recorded_comparison
from registry.history import recorded_holder
from registry.lookup import get_version
from registry.reviews import ReviewRevision, review_problems, revisions_of, thresholds_for


@dataclass
class Approval:
    """Whether a version's review lets it reach production, and on which review record."""

    name: str
    version: str
    missing: list[str] = field(default_factory=list)
    review: ReviewRevision | None = None
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def digest(self) -> str | None:
        return self.review.digest if self.review else None


def approval(name: str, version: str | int, chain: records.Chain | None = None, *, artifacts: bool = True) -> Approval:
    """The review part of the production gate: intact, of the artifacts stored now (unless
    ``artifacts`` is off), signed by a person (not a draft), ``productionise``, thresholds met."""
    version = str(version)
    chain = chain or records.verify(name)
    thresholds = thresholds_for(name)
    result = Approval(name=name, version=version, thresholds=thresholds)
    broken = review_problems(chain, version)
    if broken:
        result.missing.append(
            f"the review record of {name} version {version} is broken ({broken[0]}); "
            "run `idaas audit` and have the review recorded again"
        )
    found = revisions_of(chain, version)
    review = found[-1] if found else None
    result.review = review
    if review is None:
        needs = f" with metrics {', '.join(f'{m} >= {v:g}' for m, v in thresholds.items())}" if thresholds else ""
        result.missing.append(
            f"no impact review: write one{needs} (`idaas reviews template`) and attach it with "
            f"`idaas reviews set {name} {version} --file review.yaml`"
        )
        return result
    r = review.review
    if artifacts:
        from registry.members import artifact_digest

        if review.artifacts is None:
            result.missing.append(
                f"the review of {name} version {version} does not name the artifacts it reviewed "
                "(recorded before reviews bound them); record it again"
            )
        else:
            now = artifact_digest(name, version)
            if now != review.artifacts:
                result.missing.append(
                    f"the artifacts of {name} version {version} changed after the review was "
                    f"recorded (digest {now[:12]}, reviewed {review.artifacts[:12]})"
                )
    if r.draft:
        # A machine wrote it (e.g. `idaas models derive`); whatever it says, nobody decided.
        result.missing.append(
            f"the impact review (revision {review.revision}) is an unsigned DRAFT: a person completes "
            f"it (`idaas reviews show {name} {version}`) and signs it with `idaas reviews set`"
        )
    if r.decision != "productionise":
        result.missing.append(
            f"the impact review's decision is {r.decision!r} (revision {review.revision}), "
            "production needs 'productionise'"
        )
    for metric, minimum in thresholds.items():
        value = r.metrics.get(metric)
        if value is None:
            result.missing.append(f"the review has no {metric!r} metric; production requires {metric} >= {minimum:g}")
        elif value < minimum:
            result.missing.append(f"{metric} = {value:g} is below the production threshold {minimum:g}")
    return result


def review_passes(
    name: str, version: str | int, digest: str | None, thresholds: dict[str, float], chain: records.Chain
) -> str | None:
    """Why the review record ``digest`` did not let ``version`` pass (None when it did)."""
    if not digest:
        return "the move names no review record"
    record = chain.by_digest().get(digest)
    if record is None or record.type != "review" or record.version != str(version):
        return f"the review record {digest[:12]} it names is not an intact review of version {version}"
    try:
        review = ReviewRevision.model_validate(record.body).review
    except ValueError:
        return f"the review record {digest[:12]} is unreadable"
    if review.draft:
        return "the review it names is an unsigned draft"
    if review.decision != "productionise":
        return f"the review it names decided {review.decision!r}"
    low = [
        f"{m} = {review.metrics.get(m)}"
        for m, v in thresholds.items()
        if review.metrics.get(m) is None or review.metrics[m] < v
    ]
    return f"the review it names misses thresholds ({', '.join(low)})" if low else None


def distinct_promoter_missing(name: str, approved: Approval, who: str) -> str | None:
    from registry.catalog import load_catalog

    if not load_catalog().gate.require_distinct_promoter:
        return None
    chain_authors = {r.recorded_by for r in _all_revisions(approved)}
    if chain_authors and chain_authors == {who}:
        return (
            f"separation of duties: {who} recorded every revision of the review of {name} version "
            f"{approved.version}, so someone else must promote it (gate.require_distinct_promoter)"
        )
    return None


def _all_revisions(approved: Approval) -> list[ReviewRevision]:
    return revisions_of(records.verify(approved.name), approved.version)


def missing_for(name: str, version: str | int, stage: str) -> list[str]:
    """What stops ``version`` of ``name`` from taking ``stage``; empty when nothing does."""
    return evaluate(name, version, stage)[0]


def evaluate(name: str, version: str | int, stage: str) -> tuple[list[str], Approval | None]:
    """(what is missing, the approval it rests on) for ``version`` taking ``stage``."""
    from registry.members import bundle_members

    client = store.client()
    mv = get_version(client, name, version)
    version = str(mv.version)
    if stage == "candidate":
        return [], None
    chain = records.verify(name, client=client, stored=[mv.run_id] if mv.run_id else False)
    if stage == "staging":
        broken = review_problems(chain, version)
        if broken:
            return [f"the review record of {name} version {version} is broken ({broken[0]})"], None
        found = revisions_of(chain, version)
        if found and found[-1].review.decision == "reject":
            return [f"the impact review (revision {found[-1].revision}) rejects version {version}"], None
        return [], None
    approved = approval(name, version, chain)
    missing = list(approved.missing)
    if approved.review is not None:
        separation = distinct_promoter_missing(name, approved, store.current_user())
        if separation:
            missing.append(separation)
    for member, member_version in bundle_members(name, version):
        if member == name:
            continue
        for why in approval(member, member_version).missing:
            missing.append(f"member {member}/{member_version}: {why}")
    champion = recorded_holder(name, "production", chain)
    if champion is not None and champion != version and recorded_comparison(mv, champion) is None:
        missing.append(
            f"no champion/challenger comparison with production version {champion}: run "
            f"`idaas models compare {name} {champion} {version} --images DIR`"
        )
    return missing, approved
