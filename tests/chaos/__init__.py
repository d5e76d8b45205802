"""Chaos runs: a rollout under kills, API errors, a monitoring outage and long reads (``make chaos``)."""
