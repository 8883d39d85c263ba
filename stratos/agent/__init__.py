"""The resident agent: a reconcile loop per application subscription (see :mod:`stratos.agent.loop`).

The decisions are pure (:mod:`stratos.agent.reconcile`, :mod:`stratos.agent.health`); the loop
observes Docker and HAProxy, acts through the drivers and records what it did and why.
"""
