"""``fleetctl rehearse``: a plan run on a simulated copy of the fleet before it touches the real one.

- ``fleetcopy``: the store's nodes as a simulator fleet.
- ``workloads``: the live cluster's pods and PodDisruptionBudgets, copied read-only.
- ``scaling``: the plan's durations divided by the time scale.
- ``runner``: simulators, a scratch store, the executor, and what happened.
- ``report``: the result as text or a document.
"""
