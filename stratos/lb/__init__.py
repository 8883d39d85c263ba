"""Load balancing, the pure half: what an LB cluster's HAProxy is configured with
(:mod:`stratos.lb.config`). The HAProxy driver (:mod:`stratos.drivers.haproxy`) runs it."""
