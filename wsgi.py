"""The Flask application: ``create_app()`` for tests and tools, ``app`` for gunicorn.

``flask --app wsgi <command>`` finds the CLI commands registered here. A bad
setting stops the process with a one-line message naming the variable.
"""

from __future__ import annotations

import logging
import sys

from flask import Flask

import config
import metrics_route
import send_timeout
import web_security
import wpadmin
import wpjson
from app_settings import APP_CONFIG_KEY
from integrations import load_integrations


def create_app(settings: config.Settings | None = None) -> Flask:
    """An app for ``settings`` (default: from the environment), with the
    configured integrations loaded, the ``/wp-json`` blueprint, the admin pages, ``/metrics``, the CLI,
    and ``web_security`` (trusted proxies, security headers) around all of them."""
    settings = settings or config.get_settings()
    _configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config[APP_CONFIG_KEY] = settings  # read back by app_settings.app_settings()
    load_integrations(settings.integrations)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    wpjson.init_app(app)
    wpadmin.init_app(app)
    metrics_route.init_app(app)
    web_security.init_app(app, settings)
    _register_cli(app)
    timeouts = send_timeout.SendTimeout(app.wsgi_app, settings.send_timeout, settings.request_timeout)
    app.wsgi_app = timeouts  # type: ignore[method-assign]
    return app


def _configure_logging(level: str) -> None:
    """Our log lines (export messages, skipped lines, aborted streams) go to
    stderr with time, level and module, unless the host already configured
    logging (then it decides)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


def _register_cli(app: Flask) -> None:
    import accounts.cli
    import demo.cli
    import jobs.cli

    accounts.cli.register_cli(app)
    jobs.cli.register_cli(app)
    app.cli.add_command(demo.cli.demo_data_command)


try:
    app = create_app()
except config.ConfigError as exc:  # one line, not a traceback
    sys.exit(f"configuration error: {exc}")
