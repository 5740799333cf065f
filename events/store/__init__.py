"""The store: the event log on SQLAlchemy, its codec, recorders and database worker."""
