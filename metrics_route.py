"""``GET /metrics``: every process's Prometheus samples (``metrics``) in the
text exposition format, for a Prometheus server to scrape.

Outside ``/wp-json`` (Prometheus's convention), a plain Flask route. Open to
loopback clients (a Prometheus or exporter on the same host); from anywhere
else it needs ``Authorization: Bearer <ANALYTICS_METRICS_TOKEN>`` (RFC 6750),
Prometheus's ``authorization`` scrape setting. Refusals use the REST API's
error shape.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Flask, Response, request

import metrics
from app_settings import app_settings
from wpjson import error_response

blueprint = Blueprint("metrics", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)


def _from_loopback() -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:  # a unix socket or a proxy's odd value: not loopback
        return False


def _bearer_ok(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@blueprint.route("/metrics", methods=["GET", "HEAD"])
def scrape() -> Response:
    """200 with the samples; 401 (with a Bearer challenge) without the token from another host."""
    token = app_settings().metrics_token
    if not _from_loopback() and not _bearer_ok(token):
        if not token:
            return error_response(
                "analytics_metrics_forbidden",
                "Metrics are served to loopback clients only; set ANALYTICS_METRICS_TOKEN to scrape from elsewhere.",
                403,
            )
        return error_response(
            "analytics_metrics_unauthorized",
            "Send the metrics token as 'Authorization: Bearer <ANALYTICS_METRICS_TOKEN>'.",
            401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body, content_type = metrics.exposition()
    return Response(body, 200, content_type=content_type, headers={"Cache-Control": "no-store"})
