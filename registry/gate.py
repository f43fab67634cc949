"""The gates a version must pass to take a stage; each missing piece is its own message.

To ``production``: an impact review whose decision is ``productionise``, the review's metrics
at or above the thresholds the catalog declares for the model, and, when another version
holds ``production``, a recorded champion/challenger comparison against it.
To ``staging``: a version whose review (if any) is not ``reject``.
"""

from __future__ import annotations

from registry import store
from registry.compare import recorded_comparison
from registry.lookup import aliases, get_model, get_version
from registry.reviews import current_review, thresholds_for


def missing_for(name: str, version: str | int, stage: str) -> list[str]:
    """What stops ``version`` of ``name`` from taking ``stage``; empty when nothing does."""
    client = store.client()
    mv = get_version(client, name, version)
    version = str(mv.version)
    review = current_review(name, version)
    if stage == "candidate":
        return []
    if stage == "staging":
        if review is not None and review.review.decision == "reject":
            return [f"the impact review (revision {review.revision}) rejects version {version}"]
        return []
    missing: list[str] = []
    thresholds = thresholds_for(name)
    if review is None:
        needs = f" with metrics {', '.join(f'{m} >= {v:g}' for m, v in thresholds.items())}" if thresholds else ""
        missing.append(f"no impact review: write one{needs} (`idaas reviews template`) and attach it with "
                       f"`idaas reviews set {name} {version} --file review.yaml`")
    else:
        r = review.review
        if r.decision != "productionise":
            missing.append(f"the impact review's decision is {r.decision!r} (revision {review.revision}), "
                           "production needs 'productionise'")
        for metric, minimum in thresholds.items():
            value = r.metrics.get(metric)
            if value is None:
                missing.append(f"the review has no {metric!r} metric; production requires {metric} >= {minimum:g}")
            elif value < minimum:
                missing.append(f"{metric} = {value:g} is below the production threshold {minimum:g}")
    champion = aliases(get_model(client, name)).get("production")
    if champion is not None and champion != version and recorded_comparison(mv, champion) is None:
        missing.append(f"no champion/challenger comparison with production version {champion}: run "
                       f"`idaas models compare {name} {champion} {version} --images DIR`")
    return missing
