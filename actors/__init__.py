"""Who does the work: the executor contract and registry, tree supervisors, task actors."""
