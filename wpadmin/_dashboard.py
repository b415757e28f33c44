"""``/wp-admin/admin.php?page=analytics-export``: ``export status`` as a page,
for administrators (``manage_options`` on the request's site).

Shows the schedule and next run, each subscriber (position, pending objects,
lag, last success, last error, retry time), unreadable and quarantined
objects with a requeue button, a resume button for a paused subscriber, events delivered per run over the last day
(``_chart``), and a replay form. All of it comes from ``jobs``' public
functions: ``jobs.status.export_status``, ``DeliveryState.runs_since``,
``jobs.replay.requeue``; a replay runs as an RQ job
(``jobs.tasks.replay_job``) on the export queue, and
``/wp-admin/admin-ajax.php?action=analytics_export_replay&job=ID`` reports
its progress as ``wp_send_json_success`` would, for the progress bar.
"""

from __future__ import annotations

import datetime as dt
import time
import typing as t

from flask import flash, jsonify, redirect, request, url_for
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from wtforms import SelectChoice  # type: ignore[import-untyped]

import config
from jobs import pause, replay, subscribers
from jobs.schedule import EXPORT_TIMEOUT
from jobs.state import DeliveryState
from jobs.status import export_status, format_duration
from web_security import credentials_may_travel
from wpadmin._blueprint import (
    HTTPS_REQUIRED,
    blueprint,
    login_required,
    may_see_dashboard,
    not_allowed,
    render,
    require_user,
    settings,
    stale_form,
)
from wpadmin._chart import WINDOW, run_chart
from wpadmin._forms import ReplayForm, RequeueForm, ResumeForm
from wpadmin._session import current_user

if t.TYPE_CHECKING:
    from flask import Response
    from werkzeug.wrappers import Response as BaseResponse

PAGE = "analytics-export"
REPLAY_TASK = "jobs.tasks.replay_job"
#: Seconds RQ keeps a replay job and its result (the progress page can be reloaded for a day).
REPLAY_RESULT_TTL = 86400


def _redis() -> t.Any:
    return config.redis_connection(settings().redis_url)


def _replay_form() -> ReplayForm:
    form = ReplayForm()
    form.subscriber.choices = [SelectChoice("", "All subscribers")] + [
        SelectChoice(s.name, s.name) for s in subscribers.current()
    ]
    return form


def _page(status: int = 200, replay_form: ReplayForm | None = None) -> Response:
    current = settings()
    now = time.time()
    data = export_status(current, _redis())
    for sub in data["subscribers"]:
        sub["lag"] = format_duration(sub["lag_seconds"])
    runs = DeliveryState(_redis(), current.redis_prefix).runs_since(now - WINDOW)
    form = replay_form or _replay_form()
    if replay_form is None:
        form.since.data = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    return render(
        "dashboard.html",
        status,
        status_data=data,
        chart=run_chart(runs, now),
        runs=runs,
        requeue_form=RequeueForm(formdata=None),
        resume_form=ResumeForm(formdata=None),
        replay_form=form,
        replay_job=request.args.get("replay", ""),
    )


@blueprint.route("/wp-admin/admin.php", methods=["GET", "POST"])
@login_required
def admin_page() -> Response | BaseResponse:
    if request.args.get("page") != PAGE or not may_see_dashboard(require_user()):
        return not_allowed()
    if request.method == "GET":
        return _page()
    action = request.args.get("action", "")
    if action == "requeue":
        return _requeue()
    if action == "replay":
        return _replay()
    if action == "resume":
        return _resume()
    return stale_form()


def _requeue() -> Response | BaseResponse:
    form = RequeueForm()
    if not form.validate_on_submit():
        return stale_form()
    key = str(form.key.data)
    try:
        report = replay.requeue(settings(), key, redis=_redis())
    except LookupError as exc:
        flash(str(exc.args[0]), "error")
        return redirect(url_for("wpadmin.admin_page", page=PAGE))
    if report.skipped:
        flash(f"{key} left the quarantine, but nothing was delivered: {report.skipped}.", "warning")
    elif report.failures or report.read_errors:
        problems = [f"{name}: {error}" for name, error in sorted(report.failures.items())]
        problems += [f"reading {k}: {e}" for k, e in sorted(report.read_errors.items())]
        flash(f"Requeued {key}; {report.events} events delivered, but " + "; ".join(problems), "warning")
    else:
        flash(f"Requeued {key}: {report.events} events delivered.", "success")
    return redirect(url_for("wpadmin.admin_page", page=PAGE))


def _resume() -> Response | BaseResponse:
    """Resume a paused subscriber: the next run delivers what it missed."""
    form = ResumeForm()
    if not form.validate_on_submit():
        return stale_form()
    name = str(form.name.data)
    try:
        pause.resume(settings(), name, redis=_redis())
    except (LookupError, replay.UnknownSubscriberError) as exc:
        flash(str(exc.args[0]), "error")
    else:
        flash(f"Resumed {name}: the next run delivers everything it missed.", "success")
    return redirect(url_for("wpadmin.admin_page", page=PAGE))


def _replay() -> Response | BaseResponse:
    form = _replay_form()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            return stale_form()
        return _page(400, replay_form=form)
    day: dt.date = form.since.data
    since = dt.datetime(day.year, day.month, day.day, int(form.hour.data or 0), tzinfo=dt.UTC)
    names = [form.subscriber.data] if form.subscriber.data else None
    queue = Queue(settings().queue_name, connection=_redis())
    job = queue.enqueue(
        REPLAY_TASK,
        since.isoformat(),
        names,
        job_timeout=EXPORT_TIMEOUT,
        result_ttl=REPLAY_RESULT_TTL,
        failure_ttl=REPLAY_RESULT_TTL,
        description=f"replay since {since:%Y-%m-%dT%H}:00Z to {', '.join(names or ['all subscribers'])}",
    )
    return redirect(url_for("wpadmin.admin_page", page=PAGE, replay=job.id) + "#replay")


def replay_progress(job: Job) -> dict[str, t.Any]:
    """``{"state", "done", "total", "percent", "message"}`` of a replay job."""
    state = job.get_status(refresh=True)
    name = state.value if state is not None else "unknown"
    meta = job.get_meta(refresh=True)
    done, total = int(meta.get("done", 0)), int(meta.get("total", 0))
    percent = 100 if total == 0 else min(100, done * 100 // total)
    message = f"{done} of {total} objects delivered."
    if name == "queued":
        percent, message = 0, "Waiting for a worker (flask --app wsgi worker) to start the replay."
    elif name == "finished":
        result = job.return_value() or {}
        failures = {**result.get("failures", {}), **result.get("read_errors", {})}
        if failures:
            message = "Stopped: " + "; ".join(f"{k}: {v}" for k, v in sorted(failures.items()))
        else:
            percent = 100
            message = f"Done: {result.get('events', 0)} events in {done} objects delivered."
    elif name in ("failed", "stopped", "canceled"):
        message = f"The replay {name}; see the worker's log."
    return {"state": name, "done": done, "total": total, "percent": percent, "message": message}


@blueprint.route("/wp-admin/admin-ajax.php")
def admin_ajax() -> t.Any:
    """WordPress's ``admin-ajax.php``: ``{"success": bool, "data": ...}``."""
    if not credentials_may_travel(settings()):  # the session cookie, as on every signed-in page
        return jsonify(success=False, data={"message": HTTPS_REQUIRED}), 403
    user = current_user()
    if user is None:
        return jsonify(success=False, data={"message": "You are not signed in."}), 401
    if request.args.get("action") != "analytics_export_replay" or not may_see_dashboard(user):
        return jsonify(success=False, data={"message": "Sorry, you are not allowed to do that."}), 403
    try:
        job = Job.fetch(request.args.get("job", ""), connection=_redis())
    except (NoSuchJobError, ValueError):
        job = None
    if job is None or job.func_name != REPLAY_TASK:
        return jsonify(success=False, data={"message": "No such replay (they are kept one day)."}), 404
    return jsonify(success=True, data=replay_progress(job))
