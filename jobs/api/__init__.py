"""The HTTP API (DRF): tenant-scoped endpoints under /api."""
