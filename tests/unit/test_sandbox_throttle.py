"""The sandbox's ARM limits: a principal's bucket, the subscription's global one shared by every principal
(15 times as large), and the counts ARM sends either way (the operator's pacing syncs to them)."""

from __future__ import annotations

from acs_smtp_operator.sandbox.azure.throttle import ArmLimits, Throttle


def test_every_principal_draws_on_the_subscriptions_global_bucket_too() -> None:
    throttle = Throttle()
    throttle.configure(ArmLimits(reads=(2, 0.001)), None)  # global: 30 reads, shared
    spent = 0
    for principal in range(16):  # 16 principals with 2 reads each want 32: the global bucket holds 30
        for _ in range(2):
            wait, headers = throttle.arm_take("sub", f"p{principal}", "GET", 0.0)
            spent += not wait
    assert spent == 30 and throttle.throttled == 2
    assert headers["x-ms-ratelimit-remaining-subscription-global-reads"] == "0"
    # The last principal, refused by the global bucket, kept its own tokens.
    assert headers["x-ms-ratelimit-remaining-subscription-reads"] == "2"


def test_without_limits_arm_still_sends_an_idle_subscriptions_bucket_counts() -> None:
    _, headers = Throttle().arm_take("sub", "p", "PUT", 0.0)
    assert headers == {
        "x-ms-ratelimit-remaining-subscription-writes": "199",
        "x-ms-ratelimit-remaining-subscription-global-writes": "2999",
    }
