"""The hardened front of the scoring endpoint: MLflow's own scoring app for the router, behind
a thin ASGI layer that checks every request before anything is parsed, answers every error as
short plain JSON, and exports metrics, a request log and the OpenAPI contract.

    python -m serving.front -m models:/idaas@production     # what `idaas serve` runs
"""
