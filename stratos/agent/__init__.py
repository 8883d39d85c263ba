"""The resident agent: a reconcile loop per application subscription (see :mod:`stratos.agent.loop`).

The decisions are pure (:mod:`stratos.planning`, :mod:`stratos.releases`, :mod:`stratos.lb`); the loop
observes Docker and HAProxy, acts through the drivers and records what it did and why.
"""
