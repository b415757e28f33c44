"""The scheduled export: new raw events pushed to ``data.process`` subscribers.

- ``export_hooks``: the export's documented hooks (names, validated values,
  bucket resolution, the log action).
- ``subscribers``: who is hooked on ``data.process`` and how each is called.
- ``state``: per-subscriber delivery state in Redis (ledgers, progress, backoff,
  quarantine).
- ``lock``: one export run at a time across all workers.
- ``plan``: which objects each subscriber gets (listing, ledgers, late objects).
- ``batch``: the batches and the hot loop that fills them (the only module
  that touches a batch's internals).
- ``export``: the run itself (and reconcile): plan, then deliver batches.
- ``replay``: ``export requeue`` and ``export replay``.
- ``pause``: ``export resume`` (a subscriber paused after failures in a row).
- ``alerts``: the ``altis.analytics.export.alert`` action.
- ``status``: what ``export status`` shows.
- ``schedule``: periodic jobs declared as data, synced into rq-scheduler.
- ``tasks``: the argument-less functions the periodic jobs call on a worker.
- ``cli``: ``flask --app wsgi export|worker|scheduler``.
"""
