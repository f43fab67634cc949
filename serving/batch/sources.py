"""What to score: a folder (recursive), a glob, or a manifest (CSV or Parquet) of paths or URIs.

Every input becomes an ``InputItem`` with a stable identity ``key`` (what resume matches on),
the ``source`` to read (a local path or a URI) and the ``id`` its output row carries. A
manifest's other columns are carried through, untouched and in input order, as metadata.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import pandas as pd

from vision.errors import BadRequestError
from vision.results import TASKS

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".mpo"}
)
MANIFEST_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
# Tried in this order when the manifest's path column is not named.
PATH_COLUMNS = ("path", "uri", "url", "file", "filename", "file_path", "image_path", "image_uri")
# The output's own columns; a manifest column of the same name is carried as "input_<name>".
RESULT_COLUMNS = ("id", "path", "width", "height", "error_code", "error_message", "models", *TASKS)


@dataclass(frozen=True)
class InputItem:
    key: str  # stable identity of this input across reruns
    source: str  # absolute local path, or a URI (s3://, gs://, http://...) read through fsspec
    id: str | None


@dataclass
class Inputs:
    items: list[InputItem]
    metadata: pd.DataFrame | None  # one row per item, same order; None for folders and globs
    description: str  # what was listed, for the run's state file and the summary


def _key(source: str, item_id: str | None, occurrence: int) -> str:
    # The same file listed twice under different ids is two inputs; listed twice under the same
    # id, its occurrences are numbered so each still gets its own row.
    return hashlib.sha1(f"{source}\0{item_id or ''}\0{occurrence}".encode()).hexdigest()


def _items(pairs: list[tuple[str, str | None]]) -> list[InputItem]:
    seen: Counter[tuple[str, str | None]] = Counter()
    out = []
    for source, item_id in pairs:
        n = seen[(source, item_id)]
        seen[(source, item_id)] += 1
        out.append(InputItem(key=_key(source, item_id, n), source=source, id=item_id))
    return out


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def from_folder(folder: Path) -> Inputs:
    """Every image file under ``folder`` (by extension, hidden files skipped), sorted; id = relative path."""
    folder = Path(folder).resolve()
    pairs = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if path.suffix.lower() in IMAGE_EXTENSIONS and not _hidden(relative):
            pairs.append((str(path), relative.as_posix()))
    if not pairs:
        raise BadRequestError(f"no image files under {folder} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    return Inputs(_items(pairs), None, f"folder {folder}")


def from_glob(pattern: str) -> Inputs:
    """Every file the pattern matches (``**`` recurses), sorted; id = the path as matched."""
    matches = sorted(m for m in globlib.glob(pattern, recursive=True) if os.path.isfile(m))
    if not matches:
        raise BadRequestError(f"no file matches {pattern!r}")
    return Inputs(_items([(str(Path(m).resolve()), m) for m in matches]), None, f"glob {pattern}")


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA or str(value) == ""


def _resolve_source(value: str, base: Path) -> str:
    parsed = urlparse(value)
    if parsed.scheme == "file":
        return str(Path(url2pathname(unquote(parsed.path))))
    if len(parsed.scheme) > 1:  # a URI; one letter is a Windows drive
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def from_manifest(path: Path, *, path_column: str | None = None, id_column: str | None = None) -> Inputs:
    """A CSV or Parquet table with a path/URI column, an optional id column and metadata columns.

    Relative paths are relative to the manifest's folder. The id defaults to the path as written.
    """
    path = Path(path)
    kind = MANIFEST_EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        raise BadRequestError(f"{path}: a manifest must be .csv or .parquet")
    if kind == "csv":
        header = list(pd.read_csv(path, nrows=0).columns)
    else:
        import pyarrow.parquet as pq

        header = list(pq.read_schema(path).names)
    if path_column is None:
        path_column = next((c for c in PATH_COLUMNS if c in header), None)
        if path_column is None:
            raise BadRequestError(
                f"{path}: no path column; name it with --path-column "
                f"(looked for {', '.join(PATH_COLUMNS)}; the columns are {', '.join(header)})"
            )
    if path_column not in header:
        raise BadRequestError(f"{path}: no column {path_column!r}; the columns are {', '.join(header)}")
    if id_column is None and "id" in header and path_column != "id":
        id_column = "id"
    if id_column is not None and id_column not in header:
        raise BadRequestError(f"{path}: no id column {id_column!r}; the columns are {', '.join(header)}")
    own = [c for c in (path_column, id_column) if c]
    if kind == "csv":
        # Paths and ids stay text ("00042" is not 42); the metadata keeps pandas' inferred types.
        frame = pd.read_csv(path, dtype={c: "string" for c in own}, keep_default_na=True)
    else:
        frame = pd.read_parquet(path)
    frame = frame.reset_index(drop=True)
    if frame.empty:
        raise BadRequestError(f"{path}: the manifest has no rows")
    base = path.resolve().parent
    pairs = []
    for raw_path, raw_id in zip(
        frame[path_column].tolist(), frame[id_column].tolist() if id_column else frame[path_column].tolist()
    ):
        source = "" if _is_missing(raw_path) else _resolve_source(str(raw_path), base)
        item_id = None if _is_missing(raw_id) else str(raw_id)
        pairs.append((source, item_id))
    metadata = frame.drop(columns=own)
    metadata = metadata.rename(columns={c: f"input_{c}" for c in metadata.columns if c in RESULT_COLUMNS})
    return Inputs(_items(pairs), metadata if len(metadata.columns) else None, f"manifest {path.resolve()}")


def discover(spec: str | Path, *, path_column: str | None = None, id_column: str | None = None) -> Inputs:
    """A folder, a manifest file (.csv/.parquet), or a glob pattern, whichever ``spec`` is."""
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        return from_folder(path)
    if path.is_file():
        if path.suffix.lower() in MANIFEST_EXTENSIONS:
            return from_manifest(path, path_column=path_column, id_column=id_column)
        return Inputs(_items([(str(path.resolve()), text)]), None, f"file {path.resolve()}")
    if globlib.has_magic(text):
        return from_glob(text)
    raise BadRequestError(f"{text}: not a folder, a manifest (.csv/.parquet) or a glob pattern that matches files")
