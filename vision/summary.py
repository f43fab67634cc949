"""A few readable lines per answer, for a person at a terminal (CLI and demo)."""

from __future__ import annotations

from vision.results import ImageAnswer


def summarise(answer: ImageAnswer) -> str:
    """A few readable lines for a person at a terminal."""
    lines = [f"{answer.id}  {answer.width}x{answer.height}"]
    if answer.error:
        return lines[0] + f"  ERROR {answer.error.code}: {answer.error.message}"
    r = answer.results
    if "classify" in r:
        lines.append("  labels:     " + ", ".join(f"{l.label} {l.score:.2f}" for l in r["classify"].labels[:5]))
    if "zeroshot" in r:
        lines.append("  zero-shot:  " + ", ".join(f"{l.label} {l.score:.2f}" for l in r["zeroshot"].labels[:5]))
    if "detect" in r:
        lines.append("  objects:    " + (", ".join(f"{o.label} {o.score:.2f}" for o in r["detect"].objects[:10]) or "none"))
    if "faces" in r:
        faces = r["faces"].faces
        lines.append(f"  faces:      {len(faces)}")
        for f in faces:
            attrs = ", ".join(f.attribute_text(k) for k in f.attributes)
            lines.append(f"    box {[round(v) for v in f.box]} score {f.score:.2f}" + (f"  ({attrs})" if attrs else ""))
    if "caption" in r:
        lines.append(f"  caption:    {r['caption'].caption}")
    if "ocr" in r:
        lines.append("  text:       " + (" | ".join(line.text for line in r["ocr"].lines) or "none"))
    if "properties" in r:
        p = r["properties"]
        colours = " ".join(c.hex for c in p.dominant_colors[:3])
        lines.append(f"  properties: brightness {p.brightness:.2f}, contrast {p.contrast:.2f}, "
                     f"sharpness {p.sharpness:.4f}, colours {colours}")
    if "embed" in r:
        lines.append(f"  embedding:  {r['embed'].dim} dims")
    if "describe" in r:
        lines.append(f"  describe:   {r['describe'].text}")
    for task, err in answer.task_errors.items():
        lines.append(f"  {task}: ERROR {err.code}: {err.message}")
    if answer.models:
        lines.append("  models:     " + ", ".join(f"{t}={m}" for t, m in answer.models.items()))
    return "\n".join(lines)
