"""The core: pixels to answers. Knows nothing of MLflow, serving or the CLI."""
