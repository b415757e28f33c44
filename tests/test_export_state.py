"""The export's per-subscriber state (jobs.state.DeliveryState) against a real Redis.

Expected values from the documented behaviour: README "Pause and resume"
(paused after ``ANALYTICS_EXPORT_PAUSE_AFTER`` failures in a row, position,
ledger and partial progress kept; resuming lets the next run deliver what it
missed), the module's docstring (ledger scored by the key's hour folder,
owed and partial objects, empty-run streaks per subscriber), and the run
history the dashboard charts (one day kept). Keys are Firehose's
``YYYY/MM/DD/HH/name`` objects; hour scores are computed here with datetime.
"""

from __future__ import annotations

import datetime as dt
import time
import typing as t

import pytest

from jobs.state import RUN_HISTORY_SECONDS, DeliveryState

if t.TYPE_CHECKING:
    import redis as redis_lib

PREFIX = "st:"
T0 = 1_800_000_000.0
K1 = "2026/11/25/13/firehose-1"
K2 = "2026/11/25/14/firehose-2"
K3 = "2026/11/25/15/firehose-3"


def hour(key: str) -> float:
    y, m, d, h = (int(part) for part in key.split("/")[:4])
    return dt.datetime(y, m, d, h, tzinfo=dt.UTC).timestamp()


def test_pause_once_keeps_the_position_and_resume_clears_the_backoff(redis: redis_lib.Redis) -> None:
    state = DeliveryState(redis, PREFIX)
    state.ensure("bi", "beginning", T0)
    state.ensure("other", "beginning", T0)
    state.record_success("bi", [K1], ("2026/11/25/14/part", 7), T0)
    state.record_failure("bi", "HTTP 503", T0 + 1, base=60, maximum=3600)
    state.record_failure("bi", "HTTP 503", T0 + 2, base=60, maximum=3600)
    assert state.pause("bi", "x" * 600, T0 + 3) is True
    assert state.pause("bi", "again", T0 + 4) is False  # one pause, so one alert
    paused = state.get("bi")
    assert paused is not None
    assert (paused.paused, paused.paused_at, paused.paused_reason) == (True, T0 + 3, "x" * 500)
    assert paused.position == "2026/11/25/14/part"
    assert state.delivered("bi") == {K1} and state.partials("bi") == {"2026/11/25/14/part": 7}
    other = state.get("other")
    assert other is not None and not other.paused

    assert state.resume("bi") is True
    resumed = state.get("bi")
    assert resumed is not None
    assert (resumed.paused, resumed.paused_at, resumed.paused_reason) == (False, None, "")
    assert (resumed.failures, resumed.retry_at, resumed.waiting(T0 + 5)) == (0, None, False)
    assert state.consecutive_failures("bi") == 0
    assert resumed.position == "2026/11/25/14/part" and state.delivered("bi") == {K1}
    assert state.resume("bi") is False  # not paused
    assert state.resume("other") is False


def test_the_lag_alert_flag_is_per_subscriber(redis: redis_lib.Redis) -> None:
    state = DeliveryState(redis, PREFIX)
    state.ensure("bi", "beginning", T0)
    state.ensure("other", "beginning", T0)
    state.set_lagging("bi", True)
    assert [s.lagging for s in (state.get("bi"), state.get("other")) if s] == [True, False]
    state.set_lagging("bi", False)
    bi = state.get("bi")
    assert bi is not None and bi.lagging is False


def test_empty_run_streaks_count_per_subscriber_until_reset(redis: redis_lib.Redis) -> None:
    state = DeliveryState(redis, PREFIX)
    assert [state.count_empty_run("bi") for _ in range(3)] == [1, 2, 3]
    assert state.count_empty_run("other") == 1
    state.reset_empty_runs("bi")
    assert state.count_empty_run("bi") == 1
    assert state.count_empty_run("other") == 2
    assert all(key.startswith(PREFIX.encode()) for key in t.cast("list[bytes]", redis.keys("*")))


def test_run_history_keeps_one_day_oldest_first(redis: redis_lib.Redis) -> None:
    state = DeliveryState(redis, PREFIX)
    assert state.runs_since(0) == [] and state.last_run() is None
    for n, finished in enumerate((T0, T0 + 10, T0 + 20)):
        state.record_run({"n": n, "finished": finished})
    assert [r["n"] for r in state.runs_since(T0 + 10)] == [1, 2]
    assert state.runs_since(T0 + 21) == []
    assert state.last_run() == {"n": 2, "finished": T0 + 20}
    # A run a day after the first: the first is exactly one day old, kept; older ones go.
    state.record_run({"n": 3, "finished": T0 + RUN_HISTORY_SECONDS})
    assert [r["n"] for r in state.runs_since(0)] == [0, 1, 2, 3]
    state.record_run({"n": 4, "finished": T0 + RUN_HISTORY_SECONDS + 10})
    assert [r["n"] for r in state.runs_since(0)] == [1, 2, 3, 4]
    assert RUN_HISTORY_SECONDS == 86400


def test_restore_puts_back_a_lost_subscriber_and_takes_nothing_away(redis: redis_lib.Redis) -> None:
    state = DeliveryState(redis, PREFIX)
    state.restore("bi", "2026/11/25/00/", K2, [K1, K2], {K3: 40}, T0)
    bi = state.get("bi")
    assert bi is not None
    assert (bi.since, bi.position, bi.created) == ("2026/11/25/00/", K2, T0)
    assert state.known() == ["bi"]
    assert state.delivered("bi") == {K1, K2}
    assert state.delivered("bi", hour(K2)) == {K2}  # scored by the hour folder
    assert state.partials("bi") == {K3: 40}
    assert state.is_delivered("bi", K1) and not state.is_delivered("bi", K3)

    # Progress recorded since the loss stays: a later position, more lines of K3.
    state.record_success("bi", [], (K3, 90), T0 + 1)
    state.restore("bi", "2026/11/25/00/", K1, [], {K3: 40}, T0 + 2)
    again = state.get("bi")
    assert again is not None and again.position == K3
    assert state.partials("bi") == {K3: 90}
    assert state.delivered("bi") == {K1, K2}
    assert state.get("other") is None


def test_corrupt_reads_count_per_object_then_quarantine_keeps_the_reason(redis: redis_lib.Redis) -> None:
    # README: a corrupt object is quarantined after 3 failed reads, listed by status
    # with why and when, and no longer retried (it leaves the unread list).
    state = DeliveryState(redis, PREFIX)
    assert [state.count_corrupt(K1) for _ in range(3)] == [1, 2, 3]
    assert state.count_corrupt(K2) == 1
    assert state.note_unread(K1, "bad gzip") == 1
    state.quarantine(K1, "r" * 600, T0)
    assert state.quarantined() == {K1: {"reason": "r" * 500, "at": T0}}
    assert state.unread() == {}
    assert state.failing() == {K1, K2}  # still counted as corrupt until requeued


def test_requeue_owes_the_object_to_subscribers_that_have_not_delivered_it(redis: redis_lib.Redis) -> None:
    state = DeliveryState(redis, PREFIX)
    for name in ("has", "lacks", "busy"):
        state.ensure(name, "beginning", T0)
    state.record_success("has", [K1], None, T0)
    assert state.is_delivered("has", K1) and not state.is_delivered("lacks", K1)
    assert state.requeue(K1, ["has", "lacks"]) is False  # not quarantined: nothing changes
    assert state.owed("lacks") == set()
    state.count_corrupt(K1)
    state.quarantine(K1, "bad gzip", T0)
    assert state.requeue(K1, ["has", "lacks", "lacks"]) is True
    assert state.quarantined() == {} and state.failing() == set()
    assert (state.owed("has"), state.owed("lacks"), state.owed("busy")) == (set(), {K1}, set())
    state.record_success("lacks", [K1], None, T0 + 1)
    assert state.owed("lacks") == set()


def test_a_read_that_succeeds_settles_failures_and_owes_the_object(redis: redis_lib.Redis) -> None:
    state = DeliveryState(redis, PREFIX)
    for name in ("past", "done"):
        state.ensure(name, "beginning", T0)
    state.record_success("done", [K2], None, T0)
    state.note_unread(K2, "HTTP 500")
    state.count_corrupt(K2)
    state.settle_failures(K2, ["past", "done"])
    assert state.unread() == {} and state.failing() == set()
    assert (state.owed("past"), state.owed("done")) == ({K2}, set())
    state.forgive("past", [K2])
    assert state.owed("past") == set()


def test_a_success_records_the_time_clears_the_backoff_and_never_moves_the_position_back(
    redis: redis_lib.Redis,
) -> None:
    # README "Pause and resume" / the module docstring: the position is the highest
    # key delivered; a success resets the failure count and the retry time.
    state = DeliveryState(redis, PREFIX)
    state.ensure("bi", "beginning", T0)
    state.record_success("bi", [K3], None, T0)
    state.record_failure("bi", "HTTP 503", T0 + 1, base=60, maximum=3600)
    state.record_success("bi", [K1], None, T0 + 2)  # an object Firehose wrote late, under an earlier hour
    bi = state.get("bi")
    assert bi is not None
    assert bi.position == K3
    assert (bi.last_success, bi.failures, bi.retry_at, bi.waiting(T0 + 2)) == (T0 + 2, 0, None, False)
    assert state.consecutive_failures("bi") == 0
    assert bi.last_error == "HTTP 503" and bi.last_error_at == T0 + 1  # the last error stays on record


def test_a_finished_object_leaves_the_partial_progress(redis: redis_lib.Redis) -> None:
    state = DeliveryState(redis, PREFIX)
    state.ensure("bi", "beginning", T0)
    state.ensure("other", "beginning", T0)
    state.record_success("bi", [], (K2, 7), T0)
    state.record_success("other", [], (K2, 3), T0)
    state.record_success("bi", [K2], None, T0 + 1)
    assert state.partials("bi") == {} and state.delivered("bi") == {K2}
    assert state.partials("other") == {K2: 3}


def test_progress_recorded_while_redis_had_lost_the_subscriber_survives_the_restore(
    redis: redis_lib.Redis,
) -> None:
    # Redis came back empty in the middle of a run: the run still records what it
    # delivered, and the checkpoint's restore keeps the later of the two positions.
    state = DeliveryState(redis, PREFIX)
    state.record_success("bi", [K2], None, T0)
    assert state.get("bi") is None  # no start on record: not a known subscriber yet
    state.restore("bi", "2026/11/25/00/", K1, [K1], {}, T0 + 1)
    bi = state.get("bi")
    assert bi is not None and bi.position == K2
    assert state.delivered("bi") == {K1, K2}


def test_failures_count_in_a_row_with_the_error_cut_to_500_characters(redis: redis_lib.Redis) -> None:
    state = DeliveryState(redis, PREFIX)
    state.ensure("bi", "beginning", T0)
    state.ensure("other", "beginning", T0)
    assert (state.consecutive_failures("bi"), state.consecutive_failures("nobody")) == (0, 0)
    assert state.record_failure("bi", "x", T0, base=60, maximum=3600) == T0 + 60
    assert state.record_failure("bi", "e" * 600, T0 + 70, base=60, maximum=3600) == T0 + 70 + 120
    assert (state.consecutive_failures("bi"), state.consecutive_failures("other")) == (2, 0)
    bi = state.get("bi")
    assert bi is not None
    assert (bi.failures, bi.last_error, bi.last_error_at, bi.retry_at) == (2, "e" * 500, T0 + 70, T0 + 190)
    # "skipped by runs until retry_at": at that very second it is due again.
    assert (bi.waiting(T0 + 189.5), bi.waiting(T0 + 190)) == (True, False)


def test_a_new_subscriber_starting_now_starts_at_the_current_utc_hour_whatever_the_local_zone(
    redis: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # README: ANALYTICS_EXPORT_START=now starts at the current hour; Firehose's
    # folders are UTC hours. T0 is 2027-01-15 08:00:00 UTC (03:00 in New York).
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        state = DeliveryState(redis, PREFIX)
        assert state.ensure("bi", "now", T0 + 1800).since == "2027/01/15/08/"
        assert state.ensure("day", dt.date(2026, 11, 25), T0).since == "2026/11/25/00/"
        assert state.ensure("all", "beginning", T0).since == ""
    finally:
        monkeypatch.undo()
        time.tzset()


def test_replay_drops_the_ledger_from_its_hour_on_and_moves_the_start_back(redis: redis_lib.Redis) -> None:
    # README "replay": everything from the given hour is delivered again, what is
    # before it is not; the backoff is cleared.
    state = DeliveryState(redis, PREFIX)
    state.ensure("bi", "beginning", T0)
    state.ensure("other", "beginning", T0)
    for name in ("bi", "other"):
        state.record_success(name, [K1, K2, K3], ("2026/11/25/16/part", 9), T0)
    state.record_failure("bi", "HTTP 503", T0 + 1, base=60, maximum=3600)
    state.rewind("bi", "2026/11/25/14/")
    bi = state.get("bi")
    assert bi is not None
    assert (bi.since, bi.position, bi.failures, bi.retry_at) == ("2026/11/25/14/", "2026/11/25/14/", 0, None)
    assert state.delivered("bi") == {K1} and state.partials("bi") == {}
    assert state.delivered("other") == {K1, K2, K3} and state.partials("other") == {"2026/11/25/16/part": 9}
    other = state.get("other")
    assert other is not None and other.position == "2026/11/25/16/part"


def test_replay_from_the_beginning_forgets_every_delivery_even_of_the_epoch_hour(redis: redis_lib.Redis) -> None:
    # The ledger scores a key by its hour folder as epoch seconds: 1970/01/01/00/ is 0.
    epoch = "1970/01/01/00/firehose-0"
    state = DeliveryState(redis, PREFIX)
    state.ensure("bi", "beginning", T0)
    state.record_success("bi", [epoch, K1], None, T0)
    assert state.delivered("bi") == {epoch, K1}
    state.rewind("bi", "")
    assert state.delivered("bi") == set()
    bi = state.get("bi")
    assert bi is not None and (bi.since, bi.position) == ("", "")


def test_pruning_forgets_only_the_ledger_before_the_hour_given(redis: redis_lib.Redis) -> None:
    state = DeliveryState(redis, PREFIX)
    for name in ("bi", "other"):
        state.ensure(name, "beginning", T0)
        state.record_success(name, [K1, K2, K3], None, T0)
    assert state.prune("bi", hour(K2)) == 1
    assert state.delivered("bi") == {K2, K3}
    assert state.delivered("other") == {K1, K2, K3}


def test_an_unread_object_keeps_its_count_and_last_error_cut_to_500_characters(redis: redis_lib.Redis) -> None:
    state = DeliveryState(redis, PREFIX)
    assert state.note_unread(K1, "HTTP 500") == 1
    assert state.note_unread(K1, "t" * 600) == 2
    assert state.unread() == {K1: {"count": 2, "error": "t" * 500}}
    assert state.failing() == {K1}


def test_a_new_subscriber_has_no_error_no_failure_and_nothing_delivered(redis: redis_lib.Redis) -> None:
    """What ``export status`` shows of a subscriber no run has served yet:
    no last error, 0 failures, no position, no success, no backoff."""
    state = DeliveryState(redis, PREFIX)
    new = state.ensure("bi", "beginning", T0)
    assert (new.since, new.position, new.last_success, new.last_error, new.last_error_at) == ("", "", None, "", None)
    assert (new.failures, new.retry_at, new.waiting(T0), new.paused, new.lagging) == (0, None, False, False, False)
    assert state.get("bi") == new


def test_an_object_outside_the_hour_folders_is_ledgered_before_every_hour(redis: redis_lib.Redis) -> None:
    """The ledger scores a key by its hour folder, a key without one as the
    epoch: it is delivered from the beginning, not from any hour on."""
    state = DeliveryState(redis, PREFIX)
    state.ensure("bi", "beginning", T0)
    state.record_success("bi", ["manifests/firehose.json", K1], None, T0)
    assert state.delivered("bi") == {"manifests/firehose.json", K1}
    assert state.delivered("bi", hour(K1)) == {K1}
