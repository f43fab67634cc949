"""Batch scoring: many images from a folder, a glob or a manifest, answered by one model version
and written to Parquet, resumably.

    core.py          what every way in shares: default model, task/parameter normalisation,
                     reading one listed image (path or URI) and its error codes
    sources.py       what to score: folder (recursive), glob, or CSV/Parquet manifest
    records.py       the output row of one image (shared by the scorer, notebooks and Spark)
    parquet_sink.py  atomic chunk files while scoring, one final file at the end
    scorer.py        the engine: parallel decoding overlapped with inference, progress, resume
"""
