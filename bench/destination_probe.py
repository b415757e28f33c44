"""Time one export run into a real destination, in-process, the way
export_probe.py times the no-op subscriber: the run alone, start-up excluded.
Prints one JSON line: seconds, events, batches, failures.

Run with the service's environment plus ``ANALYTICS_INTEGRATIONS`` naming the
destination (``integrations.s3``, ``integrations.postgres``,
``integrations.webhook``) and its own variables (bench/destinations.py sets them).
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    import config
    import integrations
    import jobs.export

    settings = config.get_settings()
    integrations.load_integrations(settings.integrations)
    started = time.perf_counter()
    report = jobs.export.run_export(settings)
    seconds = time.perf_counter() - started
    json.dump(
        {"seconds": seconds, "events": report.events, "batches": report.batches, "failures": report.failures},
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
