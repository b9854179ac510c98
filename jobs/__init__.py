"""A database-backed background job engine: the table is the queue."""
