"""Scoring on Spark, for when one machine is not enough: any registered idaas version as a
``mlflow.pyfunc.spark_udf``, over ``spark.read.format("binaryFile")`` or a DataFrame of paths.

Recipe (the same model version gives the same answers as REST, `idaas score` and notebooks)::

    from serving.spark_scoring import local_spark, score_spark

    spark = local_spark("local[4]")          # or your cluster's SparkSession
    images = (spark.read.format("binaryFile")
              .option("pathGlobFilter", "*.jpg").option("recursiveFileLookup", "true")
              .load("/data/photos"))
    scored = score_spark(images, "models:/idaas@production", tasks="classify,faces")
    scored.write.parquet("/data/photos-scored.parquet")

    # or a table of paths (every executor must be able to read them), with an id column:
    scored = score_spark(spark.read.parquet("manifest.parquet"), "models:/faces-mtcnn/3",
                         path_col="path", id_col="photo_id")

The result keeps the input's columns (minus the image bytes) and adds the columns of an
`idaas score` output: width, height, error_code, error_message, one column per task holding
its answer as JSON text, and models. Read a task with ``from_json`` or ``get_json_object``.

Identical answers need identical arithmetic: torch's CPU kernels sum in an order that depends
on the number of threads, so give the Python workers the thread count the REST server uses
(``spark.executorEnv.OMP_NUM_THREADS``; ``local_spark`` does it). On a cluster, every executor
needs this project's Python environment (the UDF runs with
``env_manager="local"``: the executors' own Python) and access to the model registry or
a copy of the model; the model is loaded once per Python worker.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from serving.batch.core import request_params
from serving.batch.records import task_columns, to_record
from vision.settings import apply_offline_env, get_settings

JSON_COLUMN = "_idaas_json"
READ_COLUMN = "_idaas_read"


def local_spark(master: str = "local[2]", app_name: str = "idaas-scoring", conf: Mapping[str, str] | None = None):
    """A SparkSession on this machine only (bound to 127.0.0.1), its scratch space in the data dir.

    ``conf``: extra Spark settings, e.g. ``{"spark.driver.memory": "4g"}``.
    """
    from pyspark.sql import SparkSession

    settings = apply_offline_env()
    # The JVM and the Python workers it forks read these at start-up.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    scratch = settings.home / "spark"
    scratch.mkdir(parents=True, exist_ok=True)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.local.dir", str(scratch))
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={scratch}")
    )
    conf = dict(conf or {})
    for key, value in conf.items():
        builder = builder.config(key, value)
    if "spark.executorEnv.OMP_NUM_THREADS" not in conf:
        # Spark gives each Python worker one OpenMP thread (spark.task.cpus); torch's CPU kernels
        # sum in an order that depends on the thread count, which can move a score in its last
        # rounded digit. The thread count of this process makes Spark answer exactly like
        # `idaas score`, in-process predict and a REST server on this machine.
        import torch

        builder = builder.config("spark.executorEnv.OMP_NUM_THREADS", str(torch.get_num_threads()))
    return builder.getOrCreate()


def model_tasks(model_uri: str) -> list[str]:
    """The tasks an idaas model answers, read from its bundle (two small downloads, no weights)."""
    import mlflow
    import yaml

    from registry.bundle import read_bundle
    from registry.store import configure

    configure()
    with tempfile.TemporaryDirectory(prefix="idaas-spark-") as tmp:
        mlmodel = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=f"{model_uri.rstrip('/')}/MLmodel", dst_path=tmp)
        )
        bundle_path = yaml.safe_load(mlmodel.read_text())["flavors"]["python_function"]["artifacts"]["bundle"]["path"]
        index = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"{model_uri.rstrip('/')}/{bundle_path}/bundle.yaml", dst_path=tmp
            )
        )
        entries = read_bundle(index.parent)
    return task_columns(e.task for e in entries)


def _read_files(paths):
    # Runs on the executors: each file's bytes, or why it could not be read, by the same rules
    # and with the same error codes as `idaas score` and the notebook API (serving/batch/core.py).
    import pandas as pd

    from serving.batch.core import read_bytes
    from vision.errors import IdaasError
    from vision.settings import get_settings

    limit = get_settings().max_image_bytes
    content, codes, messages = [], [], []
    for path in paths:
        found = read_bytes(path, limit)
        failed = isinstance(found, IdaasError)
        content.append(None if failed else found)
        codes.append(found.code.value if failed else None)
        messages.append(found.message if failed else None)
    return pd.DataFrame({"content": content, "read_error_code": codes, "read_error_message": messages})


def score_spark(
    df,
    model_uri: str,
    *,
    tasks: str | Sequence[str] | None = None,
    image_col: str = "content",
    path_col: str = "path",
    id_col: str | None = None,
    params: Mapping[str, Any] | None = None,
    keep_image: bool = False,
    batch_rows: int | None = None,
):
    """Score a Spark DataFrame of images (``image_col`` bytes) or of paths (``path_col``).

    The id of each row is ``id_col`` when given, else the path. ``batch_rows`` (default: the
    request limit, 32) caps the rows per model call: this sets the session's
    ``spark.sql.execution.arrow.maxRecordsPerBatch``, which is how Spark batches a pandas UDF.
    """
    import mlflow.pyfunc
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from registry.store import configure

    configure()
    spark = df.sparkSession
    columns = df.columns
    if image_col not in columns and path_col not in columns:
        raise ValueError(f"the DataFrame needs a {image_col!r} column (image bytes) or a {path_col!r} column (paths)")
    read_from_paths = image_col not in columns
    # binaryFile makes a partition per small file, and the model would then see one image per
    # call; a partition per core lets it answer full batches.
    cores = spark.sparkContext.defaultParallelism
    if df.rdd.getNumPartitions() > cores:
        df = df.coalesce(cores)
    if read_from_paths:
        read_type = T.StructType(
            [
                T.StructField("content", T.BinaryType()),
                T.StructField("read_error_code", T.StringType()),
                T.StructField("read_error_message", T.StringType()),
            ]
        )
        df = df.withColumn(READ_COLUMN, F.pandas_udf(_read_files, read_type)(F.col(path_col)))
        df = df.withColumn(image_col, F.col(f"{READ_COLUMN}.content"))
    ident = F.col(id_col) if id_col else (F.col(path_col) if path_col in columns else F.lit(None))

    limit = int(batch_rows or get_settings().max_images_per_request)
    current = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", "10000")
    if int(current) > limit:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(limit))

    wanted = (
        task_columns(t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks))
        if tasks
        else model_tasks(model_uri)
    )
    udf_params = request_params(params, wanted if tasks else None, "json")
    predict = mlflow.pyfunc.spark_udf(spark, model_uri, result_type="string", env_manager="local", params=udf_params)
    scored = df.withColumn(
        JSON_COLUMN, predict(F.struct(F.col(image_col).alias("image"), ident.cast("string").alias("id")))
    )

    fields = [
        T.StructField("width", T.IntegerType()),
        T.StructField("height", T.IntegerType()),
        T.StructField("error_code", T.StringType()),
        T.StructField("error_message", T.StringType()),
    ]
    fields += [T.StructField(task, T.StringType()) for task in wanted] + [T.StructField("models", T.StringType())]
    result_type = T.StructType(fields)
    names = [f.name for f in fields]

    def expand(texts):
        # The same record as `idaas score` writes (serving/batch/records.py), so the columns match.
        import pandas as pd

        rows = [{k: v for k, v in to_record(json.loads(t), wanted).items() if k in names} for t in texts]
        return pd.DataFrame(rows, columns=names).astype({"width": "Int32", "height": "Int32"})

    scored = scored.withColumn(JSON_COLUMN, F.pandas_udf(expand, result_type)(F.col(JSON_COLUMN)))
    result = scored.select(
        *[c for c in scored.columns if c != JSON_COLUMN], *[F.col(f"{JSON_COLUMN}.{n}").alias(n) for n in names]
    )
    if read_from_paths:
        # A file that could not be read reached the model as "no image"; its row says why.
        failed = F.col(f"{READ_COLUMN}.read_error_code").isNotNull()
        result = (
            result.withColumn(
                "error_code", F.when(failed, F.col(f"{READ_COLUMN}.read_error_code")).otherwise(F.col("error_code"))
            )
            .withColumn(
                "error_message",
                F.when(failed, F.col(f"{READ_COLUMN}.read_error_message")).otherwise(F.col("error_message")),
            )
            .drop(READ_COLUMN)
        )
    if not keep_image:
        result = result.drop(image_col)
    return result
