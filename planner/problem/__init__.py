"""The planning problem of an instance: candidate deployments, their coefficients (the contract
is ``formulations.coefficients``), token-length buckets and user measurements."""
