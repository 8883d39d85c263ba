"""The resident agent: a reconcile loop per application subscription (see :mod:`stratos.agent.loop`).

The decisions are pure (:mod:`stratos.planning`, :mod:`stratos.releases`,
:mod:`stratos.lb`, :mod:`stratos.scaling`); the loop is a short shell over an observer (:mod:`stratos.agent.observer`),
an actor with one handler per action type (:mod:`stratos.agent.actor`) and reporting beside them
(:mod:`stratos.agent.reporting`: events, ``status.json`` as :mod:`stratos.status` models, metrics).
Members are reached only through a :class:`stratos.drivers.runtime.MemberRuntime`.
"""
