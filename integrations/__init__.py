"""Destinations for the scheduled export, one module each.

A module here registers its callbacks with ``hooks.add_action`` /
``hooks.add_filter`` when imported, exactly like the documented PHP examples.
``load_integrations`` imports the modules named by ``ANALYTICS_INTEGRATIONS``
in every process that fires hooks (web app, RQ worker, scheduler), the way
WordPress loads its plugins.
"""

from __future__ import annotations

import importlib
import logging
import typing as t

import config

logger = logging.getLogger(__name__)


class IntegrationError(config.ConfigError):
    """An integration module failed to import; the message is one line and
    names the module."""


def load_integrations(names: t.Sequence[str]) -> None:
    """Import each module so its top-level ``add_action``/``add_filter`` calls
    register. Like PHP's ``require_once``, a module already imported in this
    process is not run again (after ``hooks.reset()``, reload it yourself)."""
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise IntegrationError(f"integration {name!r} (ANALYTICS_INTEGRATIONS) failed to import: {reason}") from exc
        logger.debug("loaded integration %s", name)
