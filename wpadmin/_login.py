"""``/wp-login.php``: sign in with a login or email and one's own password,
sign out; ``/wp-admin/`` sends a signed-in user to their first page.

Failed sign-ins are throttled per client IP and per account
(``accounts.throttle``): past the limit, 429 with ``Retry-After`` even for the
right password, until the window ends.

The page is refused (403, a message instead of the form, a password sent
unchecked) where HTTP Basic is: over plain HTTP from another host
(``web_security.credentials_may_travel``); the session cookie is ``Secure``
whenever the request came over HTTPS (``wpadmin._session``).
"""

from __future__ import annotations

import logging
import typing as t

from flask import redirect, request, url_for

import metrics
from accounts import AuthenticationError
from accounts.throttle import account_id, login_throttle, wait_text
from web_security import credentials_may_travel
from wpadmin._blueprint import (
    HTTPS_REQUIRED,
    blog_id,
    blueprint,
    error_page,
    may_see_dashboard,
    render,
    safe_redirect_target,
    settings,
    stale_form,
)
from wpadmin._forms import ActionForm, LoginForm
from wpadmin._session import accounts_for, current_user, sign_in, sign_out

if t.TYPE_CHECKING:
    from flask import Response
    from werkzeug.wrappers import Response as BaseResponse

logger = logging.getLogger(__name__)



@blueprint.route("/wp-login.php", methods=["GET", "POST"])
def login() -> Response | BaseResponse:
    if request.args.get("action") == "logout":
        return _logout()
    if blog_id() is None:
        return error_page(404, "Unknown site", "No site is configured for this host name (ANALYTICS_SITES).")
    form = LoginForm()
    if not credentials_may_travel(settings()):
        return error_page(403, "HTTPS required", HTTPS_REQUIRED)
    if request.method == "GET":
        form.redirect_to.data = request.args.get("redirect_to", "")
        if current_user() is not None and not request.args.get("reauth"):
            return redirect(safe_redirect_target(form.redirect_to.data, url_for("wpadmin.admin_home")))
        notice = "You are now logged out." if request.args.get("loggedout") else None
        return render("login.html", form=form, notice=notice)
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            return stale_form()
        return render("login.html", form=form, error=" ".join(e for f in form for e in f.errors))
    return _check_credentials(form)


def _check_credentials(form: LoginForm) -> Response | BaseResponse:
    login_name, password = str(form.log.data), str(form.pwd.data)
    current = settings()
    accounts = accounts_for(current)
    throttle = login_throttle(accounts.redis, current)
    account = account_id(accounts.get_user(login_name), login_name)
    ip = request.remote_addr
    wait = throttle.retry_after(ip, account)
    if wait is not None:
        if throttle.first_refusal(ip, account, wait):
            logger.warning("sign-in throttled for %s s: too many failures from %s or for %r", wait, ip, login_name)
        message = f"Too many failed sign-in attempts. Try again in {wait_text(wait)}."
        response = render("login.html", 429, form=form, error=message)
        metrics.THROTTLED_LOGINS.inc()
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        user = accounts.check_password(login_name, password)
    except AuthenticationError as exc:
        throttle.record_failure(ip, account)
        metrics.FAILED_LOGINS.labels(exc.code).inc()
        return render("login.html", form=form, error=exc.message)
    throttle.record_success(account)
    fingerprint = accounts.password_fingerprint(user.id)
    assert fingerprint is not None  # check_password succeeded, so there is a password
    sign_in(user, fingerprint, bool(form.rememberme.data))
    return redirect(safe_redirect_target(form.redirect_to.data, url_for("wpadmin.admin_home")))


def _logout() -> Response | BaseResponse:
    """Sign out: a POST with the CSRF token, so no link or image elsewhere can
    sign a user out (WordPress asks "Do you really want to log out?" instead)."""
    form = ActionForm()
    if request.method != "POST":
        if current_user() is None:
            return redirect(url_for("wpadmin.login", loggedout="true"))
        return render("logout.html", form=form)
    if not form.validate_on_submit():
        return stale_form()
    sign_out()
    return redirect(url_for("wpadmin.login", loggedout="true"))


@blueprint.route("/wp-admin/")
def admin_home() -> Response | BaseResponse:
    """Administrators land on the export dashboard, everyone else on their profile."""
    user = current_user()
    if user is None:
        return redirect(url_for("wpadmin.login", redirect_to="/wp-admin/", reauth=1))
    if may_see_dashboard(user):
        return redirect(url_for("wpadmin.admin_page", page="analytics-export"))
    return redirect(url_for("wpadmin.profile"))
