"""gunicorn's settings for this service: ``gunicorn wsgi:app`` run from the
checkout reads this file (``scripts/run`` and ``bench/load`` do; options on
the command line win over it).

- ``gthread`` workers, two processes per core (``WEB_WORKERS``): a download is
  CPU-bound Python, and the threads of one process share one GIL, so processes
  use the cores (BENCHMARKS.md, "8 concurrent downloads").
- 32 threads per process (``WEB_THREADS``): a thread is held by every response
  in flight, including one to a client that stopped reading, until
  ``ANALYTICS_SEND_TIMEOUT`` drops it (60 s). With 2 threads, 8 such clients
  took every thread of a 4-process server; with 32, 50 of them leave a warm
  day's time to first byte well under a second (BENCHMARKS.md, "Load"). Idle
  threads cost little memory: the pool starts them as requests need them.
"""

from __future__ import annotations

import os

worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS") or 2 * (os.cpu_count() or 1))
threads = int(os.environ.get("WEB_THREADS") or 32)
