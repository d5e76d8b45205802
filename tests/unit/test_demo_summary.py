"""The headless demo's summary agrees with what happened, and its scrape interval fits the fleet."""

from __future__ import annotations

import pytest

from fleetctl.demo_scenario import ScenarioResult
from simulator.prometheus import scrape_interval_for


@pytest.mark.parametrize(
    ("outcome", "summary", "as_designed"),
    [
        (
            ScenarioResult("scrape-failures", 3, 3, "gate failed", 10, True),
            "Summary: the gate 'scrape-failures' stopped the rollout at wave 3, the first wave with s390x nodes; "
            "10 nodes rolled back.",
            True,
        ),
        (
            ScenarioResult("scrape-failures", 1, 3, "no data", 2, True),
            "Summary: the gate 'scrape-failures' stopped the rollout at wave 1, not the first wave with s390x nodes "
            "(wave 3): no data; 2 nodes rolled back.",
            False,
        ),
        (
            ScenarioResult(None, None, 3, "", 12, True),
            "Summary: no gate stopped the rollout; 12 nodes rolled back.",
            False,
        ),
        (
            ScenarioResult("scrape-failures", 3, 3, "gate failed", 10, False),
            "Summary: the gate 'scrape-failures' stopped the rollout at wave 3, the first wave with s390x nodes; "
            "10 nodes rolled back, but NOT every node is back.",
            False,
        ),
    ],
)
def test_the_summary_says_what_happened(outcome: ScenarioResult, summary: str, as_designed: bool) -> None:
    assert outcome.summary() == summary
    assert outcome.as_designed is as_designed


def test_the_scrape_interval_grows_with_the_fleet_and_shrinks_with_cores() -> None:
    assert scrape_interval_for(30, cores=2) == 1.0
    assert scrape_interval_for(400, cores=2) == 8.0
    assert scrape_interval_for(400, cores=8) == 2.0
    assert scrape_interval_for(10_000, cores=2) > scrape_interval_for(400, cores=2)
