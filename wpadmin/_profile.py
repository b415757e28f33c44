"""``/wp-admin/profile.php``: the signed-in user's application passwords.

Lists them (name, created, last used, last IP), adds one (shown once, in
WordPress's groups of four, with a copy button and a ready ``curl`` line for
this server and yesterday's date), revokes one or all. A new password is
only ever in the response to the POST that made it: never in a cookie, a
redirect or a log.
"""

from __future__ import annotations

import datetime as dt
import shlex
import typing as t

from flask import flash, redirect, request, url_for

from accounts import AccountError
from wpadmin._blueprint import blueprint, login_required, render, require_user, settings, stale_form
from wpadmin._forms import ActionForm, NewAppPasswordForm, RevokeForm
from wpadmin._session import accounts_for

if t.TYPE_CHECKING:
    from flask import Response
    from werkzeug.wrappers import Response as BaseResponse

    from accounts import User

#: The route of the documented command (README "The events endpoint").
EVENTS_PATH = "wp-json/analytics/v1/events/{day}?format=csv"


def curl_command(login: str, password: str, url_root: str, day: dt.date) -> str:
    """The documentation's command for ``day``'s CSV: ``curl -o D.csv -u "login:password" URL``."""
    url = url_root.rstrip("/") + "/" + EVENTS_PATH.format(day=day.isoformat())
    return f'curl -o {day.isoformat()}.csv -u "{login}:{password}" {shlex.quote(url)}'


def _page(user: User, status: int = 200, **context: t.Any) -> Response:
    items = accounts_for(settings()).list_app_passwords(user.login)
    return render(
        "profile.html",
        status,
        items=items,
        new_form=context.pop("new_form", None) or NewAppPasswordForm(formdata=None),
        revoke_form=RevokeForm(formdata=None),
        revoke_all_form=ActionForm(formdata=None),
        **context,
    )


@blueprint.route("/wp-admin/profile.php", methods=["GET"])
@login_required
def profile() -> Response:
    return _page(require_user())


@blueprint.route("/wp-admin/profile.php", methods=["POST"])
@login_required
def profile_action() -> Response | BaseResponse:
    user = require_user()
    accounts = accounts_for(settings())
    action = request.args.get("action", "")
    if action == "create":
        form = NewAppPasswordForm()
        if not form.validate_on_submit():
            if form.csrf_token.errors:
                return stale_form()
            return _page(user, 400, new_form=form)
        try:
            password, item = accounts.create_app_password(user.login, str(form.name.data))
        except AccountError as exc:
            form.name.errors = [_wordpress_wording(str(exc))]
            return _page(user, 400, new_form=form)
        yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        return _page(
            user,
            created=item,
            new_password=password,
            curl=curl_command(user.login, password, request.url_root, yesterday),
        )
    if action == "revoke":
        revoke = RevokeForm()
        if not revoke.validate_on_submit():
            return stale_form()
        if accounts.revoke_app_password(user.login, str(revoke.uuid.data)):
            flash("Application password revoked.", "success")
        else:
            flash("That application password was already revoked.", "error")
        return redirect(url_for("wpadmin.profile"))
    if action == "revoke-all":
        if not ActionForm().validate_on_submit():
            return stale_form()
        count = accounts.revoke_all_app_passwords(user.login)
        flash(f"All application passwords revoked ({count}).", "success")
        return redirect(url_for("wpadmin.profile"))
    return stale_form()


def _wordpress_wording(message: str) -> str:
    if "already has an application password named" in message:
        return "Each application name should be unique."
    return message[:1].upper() + message[1:] + "."
