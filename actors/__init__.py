"""Who does the work: tree supervisors and task actors."""
