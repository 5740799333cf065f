"""What is true now: read-model tables, the projector, rebuild and time travel."""
