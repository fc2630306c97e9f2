"""Nothing lost, nothing sent twice, with every fault injected at once: 500 notifications to one
recipient (by webhook, a quarter of them by Slack too) and 20 to a topic of 40 webhook subscribers, expanded in
pages of 20 with crashes in the middle of a page's batch writes and between pages."""

from __future__ import annotations

from pathlib import Path

from tocsin_local.fault_campaign import FaultPlan, run_campaign


def test_no_notification_is_lost_or_delivered_twice_under_faults(tmp_path: Path) -> None:
    report = run_campaign(
        # A loaded machine (other suites on the same 2 cores) needs more than the default
        # 300 s to settle every retry; a loss still fails, only later.
        FaultPlan(
            notifications=500, topic_notifications=20, crash_in_fanout=0.3, deadline_seconds=600
        ),
        tmp_path,
    )
    print(report.summary())
    for kind in (
        "crash_before_send",
        "crash_after_send",
        "publish_failure",
        "receiver_5xx",
        "receiver_stall",
        "runner_kill",
        "crash_fanout_mid_batch",
        "crash_fanout_between_pages",
    ):
        assert report.injected[kind] >= 1, f"{kind} never fired: {report.summary()}"
    assert report.runner_restarts >= 1
    assert report.channels["webhook"] == 500 + 20 * 40
    assert report.channels["slack"] >= 100
    assert report.accepted == report.channels.total()
    assert report.lost == [], report.summary()
    assert report.delivered + report.failed_visible == report.accepted
    assert report.unexplained_duplicates == [], report.summary()
    assert report.resends_after_crash <= report.injected["crash_after_send"]
    assert report.inconsistent == [], report.summary()
