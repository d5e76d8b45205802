"""A simulated Kata fleet that speaks the Kubernetes API and kata-monitor metrics over HTTP.

It is the outside world for tests, the demo and rehearsals, so it imports nothing of the
product: sharing the product's parsing would share its mistakes.
"""
