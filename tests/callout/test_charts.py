"""callout/charts.py: a daily bar chart's numbers and geometry, pure Python."""

from datetime import date, timedelta

from callout.charts import BAR_GAP, BAR_WIDTH, HEIGHT, daily_chart, last_days

TODAY = date(2026, 11, 28)


def test_last_days__oldest_first_and_today_last():
    days = last_days(TODAY, 30)
    assert len(days) == 30
    assert (days[0], days[-1]) == (date(2026, 10, 30), TODAY)


def test_daily_chart__a_bar_a_day_zeros_for_missing_days_and_days_outside_ignored():
    counts = {TODAY: 2, TODAY - timedelta(days=3): 4, TODAY - timedelta(days=30): 99}
    chart = daily_chart(counts, today=TODAY)
    assert [bar.count for bar in chart.bars][-4:] == [4, 0, 0, 2]
    assert len(chart.bars) == 30 and chart.total == 6
    assert chart.width == 30 * (BAR_WIDTH + BAR_GAP) - BAR_GAP and chart.height == HEIGHT


def test_daily_chart__heights_scale_to_the_peak_and_a_small_count_stays_visible():
    chart = daily_chart({TODAY: 1000, TODAY - timedelta(days=1): 1}, today=TODAY)
    today, yesterday = chart.bars[-1], chart.bars[-2]
    assert (today.height, today.y) == (HEIGHT, 0)
    assert (yesterday.height, yesterday.y) == (1, HEIGHT - 1)
    assert chart.bars[0].height == 0 and chart.bars[0].y == HEIGHT
    assert [bar.x for bar in chart.bars[:3]] == [0, BAR_WIDTH + BAR_GAP, 2 * (BAR_WIDTH + BAR_GAP)]


def test_daily_chart__the_summary_says_total_and_peak():
    chart = daily_chart({TODAY: 7, TODAY - timedelta(days=8): 35}, today=TODAY)
    assert chart.summary == "30 days: 42 events, peak 35 on 2026-11-20"


def test_daily_chart__equal_peaks_name_the_most_recent_day():
    chart = daily_chart({TODAY: 3, TODAY - timedelta(days=2): 3}, today=TODAY, noun="views")
    assert chart.summary == "30 days: 6 views, peak 3 on 2026-11-28"


def test_daily_chart__nothing_at_all():
    chart = daily_chart({}, today=TODAY, days=7)
    assert chart.summary == "7 days: 0 events" and chart.peak is None
    assert all(bar.height == 0 for bar in chart.bars)
