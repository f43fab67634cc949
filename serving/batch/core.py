"""What every batch way in shares, defined once: the default model, how tasks and parameters
are normalised, and how one listed image is read (local path, URI) with which error code.

`idaas score` (scorer.py), the notebook API (serving/notebook_api.py) and Spark
(serving/spark_scoring.py) differ only in how they spread the work; "the same answers every
way in" rests on this module.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from vision.errors import ErrorCode, IdaasError, ImageInputError

DEFAULT_MODEL_URI = "models:/idaas@production"


def normal_tasks(tasks: str | Sequence[str] | None) -> list[str] | None:
    """'classify, faces' or ['classify', 'faces'] -> ['classify', 'faces']; None when none are named."""
    if tasks is None:
        return None
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t and t.strip()]
    return list(dict.fromkeys(names)) or None


def task_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The task parameters a caller gave, without the ones left empty (None)."""
    return {k: v for k, v in dict(params or {}).items() if v is not None}


def request_params(params: Mapping[str, Any] | None, tasks: str | Sequence[str] | None, output: str) -> dict[str, Any]:
    """The pyfunc's ``params`` for a batch call: task parameters, the tasks, the output form."""
    out = task_params(params)
    names = normal_tasks(tasks)
    if names:
        out["tasks"] = ",".join(names)
    out["output"] = output
    return out


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value) == ""


def read_source(source: Any, max_bytes: int) -> bytes | Path | None:
    """What vision.image_input reads: a Path for local files (the door checks size and
    existence itself), or the bytes behind a URI, read through fsspec with the byte limit
    enforced; None for an empty manifest cell (the door says "no image was given")."""
    if _is_missing(source):
        return None
    source = str(source)
    parsed = urlparse(source)
    if len(parsed.scheme) <= 1:  # a plain path (or a Windows drive letter)
        return Path(source)
    if parsed.scheme == "file":
        return Path(parsed.path)
    try:
        import fsspec

        with fsspec.open(source, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except (ImportError, ValueError) as exc:  # an fsspec protocol whose package is not installed
        raise ImageInputError(f"cannot read {source}: {exc}", ErrorCode.UNREADABLE_FILE) from None
    except OSError as exc:
        raise unreadable(source, exc) from None
    if len(data) > max_bytes:
        raise ImageInputError(f"{source} is over the limit of {max_bytes} bytes", ErrorCode.IMAGE_TOO_LARGE)
    return data


def unreadable(source: str, exc: OSError) -> ImageInputError:
    """A read failure's error: file_not_found only when nothing is there."""
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
        return ImageInputError(f"no such file: {source}", ErrorCode.FILE_NOT_FOUND)
    return ImageInputError(f"cannot read {source}: {exc.strerror or exc}", ErrorCode.UNREADABLE_FILE)


def read_bytes(source: Any, max_bytes: int) -> bytes | IdaasError:
    """The bytes of one listed image, or the error its row reports (for callers that hand
    bytes to a model, like the notebook API and Spark's executors)."""
    from vision.image_input import load_bytes

    try:
        found = read_source(source, max_bytes)
        if found is None:
            return ImageInputError("no image was given", ErrorCode.EMPTY_INPUT)
        if isinstance(found, Path):
            return load_bytes(found, allow_path=True)
        return found
    except IdaasError as exc:
        return exc
    except OSError as exc:
        return unreadable(str(source), exc)
