"""The worker runtime: a supervisor, and in each worker process one thread per role."""
