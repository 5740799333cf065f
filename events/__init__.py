"""What happened: event types, the task tree aggregate and the event store."""
