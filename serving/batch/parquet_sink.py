"""Where a batch run's rows go: atomic chunk files while it runs, one Parquet file at the end.

    <output>.parts/state.json            what the run was started with (model version, tasks, params)
    <output>.parts/chunk-000001.parquet  rows of finished images, each with its input's key
    <output>                             appears only when every input has its row

A chunk is written to a temporary name, synced and renamed, so after Ctrl-C, ``kill -9`` or
a power cut a chunk is either complete or absent. Resume reads the keys of the chunks that
exist and scores only the rest; assembly puts the rows back in input order (one per input),
appends the carried-through metadata and renames the finished file into place.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from serving.batch.records import arrow_schema
from serving.batch.sources import InputItem
from vision.errors import BadRequestError, IdaasError

KEY = "_key"
STATE_FILE = "state.json"
CHUNK_GLOB = "chunk-*.parquet"
# Compared between a run and its resumption; anything else in the state is informative.
RESUME_FIELDS = ("model", "tasks", "params")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some filesystems cannot open a directory; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write_table(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class RunStore:
    """The chunk folder of one output file."""

    def __init__(self, output: Path):
        self.output = Path(output).resolve()
        self.parts = self.output.with_name(self.output.name + ".parts")

    # --- the run's state ------------------------------------------------------------------
    def pending_state(self) -> dict[str, Any] | None:
        """The state of an unfinished run into this output, if there is one."""
        try:
            return json.loads((self.parts / STATE_FILE).read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            raise IdaasError(f"{self.parts / STATE_FILE} is damaged; rerun with --restart to start over") from None

    def check_resumable(self, wanted: Mapping[str, Any]) -> dict[str, Any] | None:
        """The pending state when ``wanted`` may resume it; None when there is nothing to resume."""
        state = self.pending_state()
        if state is None:
            return None
        differs = [f for f in RESUME_FIELDS if state.get(f) != wanted.get(f)]
        if differs:
            was = ", ".join(f"{f}={state.get(f)!r}" for f in differs)
            now = ", ".join(f"{f}={wanted.get(f)!r}" for f in differs)
            raise BadRequestError(
                f"{self.parts} holds an unfinished run started with {was}; this run asks for {now}. "
                "Rerun with the same options to resume it, or pass --restart to discard it"
            )
        return state

    def check_output(self, overwrite: bool) -> None:
        if self.output.exists() and not overwrite:
            raise BadRequestError(f"{self.output} already exists (a finished run); pass --overwrite to score again")
        if not self.output.parent.is_dir():
            raise BadRequestError(f"{self.output.parent} is not a folder")

    def begin(self, state: Mapping[str, Any], *, restart: bool = False, overwrite: bool = False) -> None:
        self.check_output(overwrite)
        if restart and self.parts.exists():
            shutil.rmtree(self.parts)
        self.parts.mkdir(parents=True, exist_ok=True)
        for leftover in self.parts.glob(".*.tmp"):  # a chunk that was being written when the run died
            leftover.unlink()
        if not (self.parts / STATE_FILE).exists():
            tmp = self.parts / f".{STATE_FILE}.tmp"
            tmp.write_text(json.dumps(dict(state), indent=2, sort_keys=True))
            os.replace(tmp, self.parts / STATE_FILE)

    # --- chunks ---------------------------------------------------------------------------
    def chunks(self) -> list[Path]:
        return sorted(self.parts.glob(CHUNK_GLOB)) if self.parts.exists() else []

    def done_keys(self) -> set[str]:
        keys: set[str] = set()
        for chunk in self.chunks():
            keys.update(pq.read_table(chunk, columns=[KEY]).column(KEY).to_pylist())
        return keys

    def write_chunk(self, keys: Sequence[str], records: Sequence[Mapping[str, Any]], tasks: Sequence[str]) -> Path:
        schema = arrow_schema(tasks).insert(0, pa.field(KEY, pa.string()))
        table = pa.Table.from_pylist([{KEY: key, **record} for key, record in zip(keys, records)], schema=schema)
        existing = self.chunks()
        number = int(existing[-1].stem.split("-")[1]) + 1 if existing else 1
        path = self.parts / f"chunk-{number:06d}.parquet"
        _atomic_write_table(table, path)
        return path

    # --- the final file -------------------------------------------------------------------
    def assemble(
        self,
        items: Sequence[InputItem],
        metadata: pd.DataFrame | None,
        tasks: Sequence[str],
        file_metadata: Mapping[str, Any],
    ) -> pa.Table:
        """Write the output (input order, one row per input, metadata appended) and drop the chunks."""
        schema = arrow_schema(tasks).insert(0, pa.field(KEY, pa.string()))
        chunks = [pq.read_table(c).select(schema.names).cast(schema) for c in self.chunks()]
        done = pa.concat_tables(chunks) if chunks else schema.empty_table()
        position: dict[str, int] = {}
        for i, key in enumerate(done.column(KEY).to_pylist()):
            position.setdefault(key, i)  # a key can only be written once; first one wins regardless
        missing = [item.id or item.source for item in items if item.key not in position]
        if missing:
            raise IdaasError(f"{len(missing)} inputs have no row yet (e.g. {missing[0]}); rerun to finish them")
        table = done.take(pa.array([position[item.key] for item in items], pa.int64())).drop_columns([KEY])
        if metadata is not None:
            carried = pa.Table.from_pandas(metadata.reset_index(drop=True), preserve_index=False)
            for name in carried.column_names:
                table = table.append_column(carried.schema.field(name), carried.column(name))
        existing_meta = table.schema.metadata or {}
        table = table.replace_schema_metadata({**existing_meta, b"idaas": json.dumps(dict(file_metadata)).encode()})
        _atomic_write_table(table, self.output)
        shutil.rmtree(self.parts, ignore_errors=True)
        return table


def read_run_metadata(path: Path) -> dict[str, Any]:
    """What an `idaas score` output was made with (model version, tasks, params, counts)."""
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(b"idaas", b"{}"))
