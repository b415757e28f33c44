"""A test-only export subscriber whose BI tool always refuses the batch:
the dashboard must show it failing, with its error and retry time.
Loaded with ``ANALYTICS_INTEGRATIONS=tests.integrations_fixtures.failing``."""

from __future__ import annotations

from hooks import add_action

ERROR = "BI tool refused the batch: HTTP 503 Service Unavailable"


def refuse_batch(data: str) -> None:
    raise RuntimeError(ERROR)


add_action("altis.analytics.export.data.process", refuse_batch)
