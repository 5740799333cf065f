"""Import paths of the original library, kept so its documented examples run unchanged."""
