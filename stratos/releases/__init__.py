"""Releases, the pure half: a subscription's release state, the decisions on it, the trigger protocol.

- :mod:`stratos.releases.state`: what went live, what failed, what a rollback holds (and its file);
- :mod:`stratos.releases.decide`: the release to serve and the next step, from the state and the
  members' release checks;
- :mod:`stratos.releases.triggers`: the request files with which ``stratos sync``/``rollback`` and
  the webhook ask the agent for a step.

The executor (git, the canary container, the switch of ``current``, HAProxy) is the agent's
(:mod:`stratos.agent.rollout`); nothing here imports a driver (an import-linter contract).
"""
