"""The MLflow side: pyfunc bundles, versions, impact reviews and their records, stages, the gate, audit."""
