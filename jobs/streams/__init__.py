"""The live event streams' engine side: the outbox hub, the feeds and the SSE plumbing.

``hub`` polls the outbox once per process and fans rows out; ``watermark`` keeps that poll
gap-safe; ``reads`` are its queries; ``feed`` gives one API client a lossless, resumable
sequence; ``filters`` what one API stream keeps of each row (``?types=`` …); ``reset`` is what a
stream sends where it cannot vouch for that; ``sse`` frames
messages and hosts the Channels consumer base; ``conf`` holds the tunables. The streams
themselves live with their audience: ``jobs.api.stream`` and ``dashboard.stream``. Nothing
here imports the API or the console.
"""
