"""The training pipeline: one module per stage (dvc.yaml, MLproject), one config, one determinism setup."""
