"""What the tests share: paths, the pass being run, servers and processes, builders, clients."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
#: ``mariadb`` (real MariaDB + Redis) or ``sqlite`` (the embedded default).
BACKEND = os.environ.get("JOBS_TEST_DB", "sqlite")
USE_REDIS = BACKEND == "mariadb" or os.environ.get("JOBS_TEST_REDIS") == "1"
