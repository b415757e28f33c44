"""Time one export run in-process, the way the floor is timed: the run alone,
interpreter and import start-up excluded. Prints one JSON line: seconds,
CPU seconds over the same span, events handed to the no-op subscriber, calls, characters, peak RSS (KiB).

Run with the service's environment plus ``ANALYTICS_INTEGRATIONS`` naming
``bench_noop_subscriber`` and ``bench/`` on ``PYTHONPATH`` (the harness does).
"""

from __future__ import annotations

import json
import resource
import sys
import time

from baselines import run_delay


def main() -> None:
    import config
    import integrations
    import jobs.export

    settings = config.get_settings()
    integrations.load_integrations(settings.integrations)
    import bench_noop_subscriber as sink

    started, cpu_started, waited = time.perf_counter(), time.process_time(), run_delay()
    report = jobs.export.run_export(settings)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    waited = run_delay() - waited
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump(
        {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "runqueue_seconds": waited,
            "events": sink.events,
            "calls": sink.calls,
            "chars": sink.size,
            "objects": report.objects,
            "skipped": report.skipped,
            "maxrss_kb": rss,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
