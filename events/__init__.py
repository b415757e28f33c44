"""Raw event files: where they are, how keys map to hours, how lines become events.

- ``sources``: the object store (a local directory or S3), listed in key order
  and read as streams of lines.
- ``layout``: the Firehose key layout (``YYYY/MM/DD/HH/<name>``) and UTC days.
- ``records``: NDJSON lines to events, and events to flat CSV fields.
- ``catalog``: per-object summaries cached in Redis.

Knows nothing of HTTP or jobs.
"""
