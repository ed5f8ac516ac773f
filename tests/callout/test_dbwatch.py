"""callout/dbwatch.py's watchdog: it cuts the connection of a request still running at its
deadline, and never that of a request that finished (a later request's idle connection)."""

import time

from callout import dbwatch


def test_an_expired_deadline_cuts__a_disarmed_one_never(monkeypatch):
    cut = []
    monkeypatch.setattr(dbwatch, "_cut", cut.append)
    watchdog = dbwatch._Watchdog()
    finished = watchdog.arm(0.05, "finished request")
    watchdog.disarm(finished)
    watchdog.arm(0.05, "hung request")
    watchdog.arm(60, "slow but in time")
    deadline = time.monotonic() + 2
    while not cut and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert cut == ["hung request"]


def test_the_deadline_is_off_for_sqlite_or_zero(settings):
    settings.API_DB_DEADLINE = 0
    with dbwatch.deadline():
        pass
    assert not dbwatch._watchdog.armed


def test_arming_does_not_wake_the_thread_per_request__an_earlier_deadline_does(monkeypatch):
    """A wake-up per request cost the serve ~30 us (the thread took the GIL from the request):
    a deadline later than the one the thread sleeps towards is found when it wakes."""
    cut = []
    monkeypatch.setattr(dbwatch, "_cut", cut.append)
    watchdog = dbwatch._Watchdog()
    notified = []
    notify = watchdog.condition.notify
    monkeypatch.setattr(watchdog.condition, "notify", lambda: notified.append(1) or notify())
    for _ in range(100):  # a worker's requests, one after another, each in time
        watchdog.disarm(watchdog.arm(60, "request in time"))
    assert len(notified) <= 2  # the first arm, and the thread may not have slept yet
    watchdog.arm(0.05, "hung request")  # earlier than any the thread knows: it is woken
    deadline = time.monotonic() + 2
    while not cut and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cut == ["hung request"]
