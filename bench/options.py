"""What a benchmark run measures and how big: the scenarios and their sizes."""

from dataclasses import asdict, dataclass, field
from typing import Any

#: Environment variables the outer process hands to the benchmark process.
ENV_OPTIONS = "BENCH_OPTIONS"
ENV_WORKDIR = "BENCH_WORKDIR"
ENV_PIDS = "BENCH_SERVER_PIDS"

SCENARIOS = ("drain", "enqueue", "latency", "scaling", "fairness", "bigtable", "memory", "seed")


@dataclass
class Options:
    scenarios: list[str] = field(default_factory=lambda: list(SCENARIOS))
    quick: bool = False
    tasks: int = 20_000
    processes: int = 2
    threads: int = 8
    peers: bool = True
    clients: int = 16
    requests: int = 4_000
    batches: int = 40
    batch_size: int = 500
    rate: float = 50.0
    latency_tasks: int = 1_000
    noisy: int = 20_000
    quiet: int = 100
    rows: int = 1_000_000
    samples: int = 50
    #: The seed scenario: ``POST /api/demo/seed`` calls (50 tasks each), and threads per engine (the seed's 4).
    seeds: int = 4
    seed_threads: int = 4
    json: str | None = None
    svg: bool = False
    svg_dir: str | None = None

    @classmethod
    def sized(cls, *, quick: bool, **given: Any) -> "Options":
        """Defaults for a full run, or the CI smoke sizes with ``quick``; explicit values win."""
        base: dict[str, Any] = {}
        if quick:
            base = {"tasks": 300, "requests": 100, "batches": 2, "latency_tasks": 40, "noisy": 400,
                    "quiet": 20, "rows": 2_000, "samples": 3, "clients": 4,
                    # The seed's handlers sleep 0.5–3 s: 50 of them on 25 threads take seconds, not 25 s.
                    "seeds": 1, "seed_threads": 25}
        base.update({k: v for k, v in given.items() if v is not None})
        return cls(quick=quick, **base)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
