"""Use cases over the store: enqueue, operator actions, reads, analytics, housekeeping, metrics."""
