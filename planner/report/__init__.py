"""Human- and machine-readable outputs: tables, JSON, plots; every file is written atomically."""
