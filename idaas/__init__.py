"""The `idaas` command line. Nothing imports this package; it imports everything else."""
