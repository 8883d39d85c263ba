"""Planning, pure: what the agent should do this tick, from the definitions and what it observed.

- :mod:`stratos.planning.health`: a member's health verdict from its successive probes;
- :mod:`stratos.planning.revision`: the hash of the definitions that shape a member's container;
- :mod:`stratos.planning.reconcile`: definitions + the observed world + ``now`` -> actions, each
  with its reasons, and a view per subscription.

Nothing here talks to Docker, HAProxy or git, or reads a clock: the agent observes, passes what it
saw and ``now`` in, and acts on the plan (an import-linter contract keeps drivers out).
"""
