"""The admin pages, server-rendered like WordPress's wp-admin:

- ``/wp-login.php``: sign in with a login or email and one's own password
  (``flask --app wsgi users set-password LOGIN``), sign out;
- ``/wp-admin/profile.php``: one's application passwords: list, add (shown
  once, with a ready ``curl`` line), revoke one or all;
- ``/wp-admin/admin.php?page=analytics-export``: the export dashboard, for
  administrators, with requeue and a replay whose progress bar polls
  ``/wp-admin/admin-ajax.php``.

Jinja templates and one stylesheet beside this file; no front-end build.
``init_app(app)`` registers the blueprint and the session cookie settings.
"""

from __future__ import annotations

import typing as t

from wpadmin import _dashboard, _login, _profile  # noqa: F401  (they add their routes to the blueprint)
from wpadmin._blueprint import blueprint
from wpadmin._session import configure

if t.TYPE_CHECKING:
    from flask import Flask

__all__ = ["blueprint", "init_app"]


def init_app(app: Flask) -> None:
    """Register the admin blueprint and its session settings on ``app``."""
    configure(app)
    app.register_blueprint(blueprint)
