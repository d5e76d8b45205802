"""``fleetctl serve``: collection on a timer and scheduled rollouts, led by one replica at a time."""
