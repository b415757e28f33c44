"""The alert action: ``altis.analytics.export.alert``, fired once per change
of the export's state, for the people who run it (email, Slack, a pager).

``altis.analytics.export.log`` gets every log line; this action gets only
what someone should act on, once: a subscriber starts failing, is paused,
recovers; its lag passes ``ANALYTICS_ALERT_LAG`` and comes back under it; an
object is quarantined; a reconciliation pass finds late objects. The
"once" is kept in Redis (``jobs.state``), so every worker process agrees.

Callbacks get ``(code, message, subscriber, details)``: register them with
``accepted_args=4`` (WordPress's ``add_action( $hook, $cb, 10, 4 )``).
"""

from __future__ import annotations

import logging
import typing as t

import hooks

from .export_hooks import E_USER_ERROR, E_USER_NOTICE, E_USER_WARNING, log

logger = logging.getLogger(__name__)

ALERT = "altis.analytics.export.alert"

#: The codes, and the log level each alert's message also goes to ``altis.analytics.export.log`` with.
FAILING = "subscriber_failing"
PAUSED = "subscriber_paused"
RECOVERED = "subscriber_recovered"
LAGGING = "subscriber_lagging"
LAG_CLEARED = "subscriber_lag_cleared"
QUARANTINED = "object_quarantined"
LATE_OBJECTS = "late_objects"
LEVELS: dict[str, int] = {
    FAILING: E_USER_WARNING,
    PAUSED: E_USER_ERROR,
    RECOVERED: E_USER_NOTICE,
    LAGGING: E_USER_WARNING,
    LAG_CLEARED: E_USER_NOTICE,
    QUARANTINED: E_USER_ERROR,
    LATE_OBJECTS: E_USER_WARNING,
}


def alert(
    code: str,
    message: str,
    subscriber: str = "",
    details: t.Mapping[str, t.Any] | None = None,
    *,
    logged: bool = False,
) -> None:
    """Fire ``altis.analytics.export.alert`` with ``(code, message, subscriber,
    details)`` (``subscriber`` is ``""`` for an alert about objects), after
    sending ``message`` to the log action unless the caller already ``logged``
    that event. A callback that raises is logged and ignored: a broken
    notifier must not stop an export."""
    if not logged:
        log(message, LEVELS.get(code, E_USER_WARNING))
    try:
        hooks.do_action(ALERT, code, message, subscriber, dict(details or {}))
    except Exception:
        logger.exception("a callback on %s raised", ALERT)
