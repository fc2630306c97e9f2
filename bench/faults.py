"""Fault benchmark: N notifications (default 10,000) through the local stack with every fault
injected (crashes before/after send, SNS publish failures, receiver 5xx and stalls, the trigger
runner killed and restarted). Prints delivered, duplicates, lost, the time and the retries spent.

    python bench/faults.py [--notifications 10000] [--runner-kills 3]
"""

from __future__ import annotations

import argparse
import sys

from tocsin_local.fault_campaign import FaultPlan, run_campaign


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--notifications", type=int, default=10_000)
    parser.add_argument("--runner-kills", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--topic-notifications", type=int, default=100, help="to a topic of 40 subscribers"
    )
    args = parser.parse_args()
    plan = FaultPlan(
        notifications=args.notifications,
        runner_kills=args.runner_kills,
        clients=args.clients,
        topic_notifications=args.topic_notifications,
        deadline_seconds=max(300.0, args.notifications / 5),
    )
    report = run_campaign(plan)
    print(f"\nFault campaign, {args.notifications} notifications\n{report.summary()}")
    if report.lost or report.unexplained_duplicates:
        print(
            f"LOST: {report.lost[:20]}\nUNEXPLAINED DUPLICATES: {report.unexplained_duplicates[:20]}"
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
