"""A few readable lines per answer, for a person at a terminal (CLI and demo)."""

from __future__ import annotations

from vision.results import ImageAnswer


def summarise(answer: ImageAnswer) -> str:
    """A few readable lines for a person at a terminal."""
    lines = [f"{answer.id}  {answer.width}x{answer.height}"]
    if answer.error:
        return lines[0] + f"  ERROR {answer.error.code}: {answer.error.message}"
    # Each answer presents itself (vision/results.py); the first line goes after its label.
    labels = {"classify": "labels", "zeroshot": "zero-shot", "detect": "objects", "ocr": "text", "embed": "embedding"}
    for task, result in answer.results.items():
        first, *rest = result.summary()
        lines.append(f"  {labels.get(task, task) + ':':<11} {first}")
        lines.extend(f"    {line}" for line in rest)
    for task, err in answer.task_errors.items():
        lines.append(f"  {task}: ERROR {err.code}: {err.message}")
    if answer.models:
        lines.append("  models:     " + ", ".join(f"{t}={m}" for t, m in answer.models.items()))
    return "\n".join(lines)
