"""A simulated Kata fleet that speaks the Kubernetes API and kata-monitor metrics over HTTP.

It is the outside world for tests, the demo and rehearsals, so it imports nothing of the
product: sharing the product's parsing would share its mistakes. This module is its one public
entry point for the product (rehearsal and the demo): an import-linter contract keeps them from
reaching deeper. Tests may use the submodules.
"""

from __future__ import annotations

from simulator.cli import serve_command
from simulator.faults import Faults, HealthRegression
from simulator.fleet import HOSTS, FleetSpec, NodeSpec, Workloads
from simulator.installmode import DEFAULT_INSTALL_LABEL, JOB_TEMPLATE_KEY, JOB_TEMPLATES, InstallMode
from simulator.kata import LABEL_DEFAULT, LABEL_PEER_PODS, LABEL_RUNTIME, LABEL_SE, NEWEST, RELEASES
from simulator.prometheus import prometheus_binary, prometheus_server, scrape_interval_for
from simulator.server import ServerOptions, Simulator
from simulator.world import REPLACE_ANNOTATION, RUN_SECONDS_ANNOTATION

__all__ = [
    "DEFAULT_INSTALL_LABEL",
    "HOSTS",
    "JOB_TEMPLATES",
    "JOB_TEMPLATE_KEY",
    "LABEL_DEFAULT",
    "LABEL_PEER_PODS",
    "LABEL_RUNTIME",
    "LABEL_SE",
    "NEWEST",
    "RELEASES",
    "REPLACE_ANNOTATION",
    "RUN_SECONDS_ANNOTATION",
    "Faults",
    "FleetSpec",
    "HealthRegression",
    "InstallMode",
    "NodeSpec",
    "ServerOptions",
    "Simulator",
    "Workloads",
    "prometheus_binary",
    "prometheus_server",
    "scrape_interval_for",
    "serve_command",
]
