"""The worker runtime: a supervisor, and in each worker process one ``Service`` thread per role."""
