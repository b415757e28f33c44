"""The settings of the Flask app at hand: the web side's view of ``config``.

``wsgi.create_app`` keeps the app's ``config.Settings`` in ``app.config``
under ``APP_CONFIG_KEY``; request handlers and CLI commands read them with
``app_settings()`` rather than ``config.get_settings()``, because an app made
for a test may have other settings than the environment's. Kept out of
``config`` so that ``config`` (and ``events``) import nothing of Flask.
"""

from __future__ import annotations

import typing as t

from flask import current_app

if t.TYPE_CHECKING:
    from config import Settings

#: The ``app.config`` key under which ``wsgi.create_app`` keeps the app's settings.
APP_CONFIG_KEY = "ANALYTICS_SETTINGS"


def app_settings() -> Settings:
    """The settings of the Flask app serving this request or CLI command.
    Raises RuntimeError outside an application context (Flask's)."""
    return t.cast("Settings", current_app.config[APP_CONFIG_KEY])
