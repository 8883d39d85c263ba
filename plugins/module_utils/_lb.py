# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This module utility is private to stratos.paas: its API may change without notice and other
# collections must not import it.
#
# The runtime step of the lb_cluster module: the HAProxy container of an LB cluster and its
# configuration <state>/lb/<name>/haproxy.cfg, planned and applied by stratos.drivers.haproxy.
# The container runs on the Docker endpoint of the network partition's first partition, on the
# network partition's network; the agent reaches its runtime API through <state>/lb/<name>/run.

from __future__ import annotations

import json
import shutil
import traceback
from urllib.parse import urlsplit

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.stratos.paas.plugins.module_utils._common import STRATOS_LIBRARY, RuntimeStep

try:
    import yaml
    from stratos.drivers import docker as dockerlib
    from stratos.drivers import haproxy
    from stratos.errors import NotFoundError
    from stratos.lb import config as lbconfig
    from stratos.store import StateStore
    from stratos.validation import parse_definition
except ImportError:
    HAS_LB_DRIVER = False
    LB_DRIVER_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_LB_DRIVER = True
    LB_DRIVER_IMPORT_ERROR = None

#: The options lb_cluster adds to the definition module's (documented in plugins/modules/lb_cluster.py).
LB_OPTIONS = dict(
    purge=dict(type="bool", default=False),
    wait_timeout=dict(type="int", default=30),
)

_ANY_ADDRESS = ("", "0.0.0.0", "::")


def require_lb_driver(module):
    """Fail with Ansible's usual message when the core's HAProxy driver (or docker) is missing."""
    if not HAS_LB_DRIVER:
        module.fail_json(
            msg=missing_required_lib("%s (with the docker SDK)" % STRATOS_LIBRARY),
            exception=LB_DRIVER_IMPORT_ERROR,
        )


def lb_steps(module, before, after):
    """Plan the HAProxy container of an LB cluster: run or update the one ``after`` wants, remove the
    one only ``before`` had (the LB cluster is removed, or moved to another Docker endpoint); with
    state=absent and purge, also its directory in the state directory. Reads only."""
    store = StateStore(module.params["state_dir"])
    pool = dockerlib.ClientPool()
    steps = []
    wanted_endpoint = None
    if after is not None:
        np = _network_partition(store, after.network_partition)
        wanted_endpoint = _endpoint(np)
        if wanted_endpoint is not None:
            client = pool.get(wanted_endpoint)
            spec, change = haproxy.plan_lb_container(client, after, np, store)
            steps.append(_ensure_step(client, store, after, wanted_endpoint, spec, change, module))
    if before is not None:
        np = _network_partition(store, before.network_partition, required=False)
        old_endpoint = _endpoint(np) if np is not None else dockerlib.DEFAULT_ENDPOINT
        if old_endpoint is not None and (after is None or old_endpoint != wanted_endpoint):
            client = pool.get(old_endpoint)
            steps.append(_removal_step(client, before, old_endpoint))
    if after is None and module.params["purge"]:
        steps.append(_purge_step(store, module.params["name"]))
    return steps


def _network_partition(store, name, required=True):
    text = store.read("NetworkPartition", name)
    if text is None:
        if required:
            raise NotFoundError("network partition '%s' is not defined" % name)
        return None
    return parse_definition(yaml.safe_load(text), str(store.definition_path("NetworkPartition", name)))


def _endpoint(np):
    """Where the LB container runs: the first partition's Docker endpoint (None for OpenStack, whose
    load balancers belong to the Pulumi front end)."""
    if np.provider != "docker":
        return None
    return np.partitions[0].endpoint


# --------------------------------------------------------------------------- present


def _ensure_step(client, store, lb, endpoint, spec, change, module):
    current = _container(client, spec.name)
    config_path = store.lb_dir(lb.name) / lbconfig.CONFIG_NAME
    current_config = config_path.read_text() if config_path.is_file() else None
    report = dict(
        name=spec.name,
        endpoint=endpoint,
        action=change.action,
        reasons=list(change.reasons),
        container_id=current.id if current is not None else None,
        image=spec.image,
        network=spec.network,
        ports=_ports(lb),
        urls=_urls(lb, endpoint),
        url=None,
        config=str(config_path),
        socket=str(haproxy.socket_path(store, lb.name)),
    )
    report["url"] = _first_url(lb, report["urls"])
    before = _observed(current, current_config, config_path) if current is not None else None
    after = _text({**spec.shape(), "state": "running"}, spec.config, config_path)

    def apply():
        haproxy.apply_lb_container(client, spec, change, store, wait=module.params["wait_timeout"])
        running = _container(client, spec.name)
        report["container_id"] = running.id if running is not None else None

    return RuntimeStep(
        changed=change.changed,
        diff=_diff(spec.name, before, after),
        apply=apply,
        report=report,
    )


def _ports(lb):
    return [
        dict(
            proxy_port=li.proxy_port,
            port=li.port,
            protocol=li.protocol,
            host_ip=lb.bind_address,
            host_port=li.host_port(),
        )
        for li in lb.listeners
    ]


def _urls(lb, endpoint):
    if lb.bind_address not in _ANY_ADDRESS:
        host = lb.bind_address
    elif endpoint.startswith("unix://"):
        host = "127.0.0.1"
    else:
        host = urlsplit(endpoint).hostname or "127.0.0.1"
    if ":" in host:
        host = "[%s]" % host
    return [
        ("http://%s:%d/" if li.protocol == "http" else "tcp://%s:%d") % (host, li.host_port())
        for li in lb.listeners
    ]


def _first_url(lb, urls):
    http = [i for i, li in enumerate(lb.listeners) if li.protocol == "http"]
    return urls[http[0] if http else 0]


# The container as it is, with the keys of the driver's LbContainerSpec.shape(), so that --diff
# compares like with like (the driver only keeps a hash of what it created).
def _observed(container, config, config_path):
    attrs = container.attrs
    host = attrs.get("HostConfig") or {}
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    bindings = host.get("PortBindings") or {}
    shape = dict(
        name=container.name,
        image=(attrs.get("Config") or {}).get("Image"),
        network=next(iter(sorted(networks)), host.get("NetworkMode")),
        ports={
            key: [value[0].get("HostIp") or "0.0.0.0", int(value[0].get("HostPort") or 0)]
            for key, value in sorted(bindings.items())
            if value
        },
        mounts=list(host.get("Binds") or []),
        restart=(host.get("RestartPolicy") or {}).get("Name"),
        state=(attrs.get("State") or {}).get("Status"),
    )
    return _text(shape, config, config_path)


def _text(shape, config, config_path):
    text = json.dumps(shape, indent=2, sort_keys=True) + "\n"
    if config_path is None:  # the container alone (its removal leaves the configuration)
        return text
    return text + "# %s\n%s" % (config_path, config if config is not None else "(none)\n")


def _diff(name, before, after):
    label = "container/%s" % name
    return dict(
        before=before or "",
        after=after or "",
        before_header=label if before is not None else "(absent)",
        after_header=label if after is not None else "(absent)",
    )


def _container(client, name):
    with dockerlib.docker_errors("reading container '%s'" % name):
        found = client.containers.list(all=True, filters={"name": "^/%s$" % name})
    return found[0] if found else None


# --------------------------------------------------------------------------- absent


def _removal_step(client, lb, endpoint):
    name = haproxy.container_name(lb)
    current = _container(client, name)
    exists = haproxy.remove_lb_container(client, lb.name, check_mode=True)  # checks the labels
    report = dict(
        name=name,
        endpoint=endpoint,
        action="remove" if exists else "none",
        reasons=["the LB cluster is removed"] if exists else ["the container does not exist"],
        container_id=current.id if current is not None else None,
    )
    return RuntimeStep(
        changed=exists,
        diff=_diff(name, _observed(current, None, None) if current is not None else None, None),
        apply=lambda: haproxy.remove_lb_container(client, lb.name),
        report=report,
    )


def _purge_step(store, name):
    path = store.lb_dir(name)
    exists = path.exists()
    report = dict(
        name=str(path),
        action="remove" if exists else "none",
        reasons=["purge: the configuration and runtime API directory"] if exists else ["does not exist"],
    )
    return RuntimeStep(
        changed=exists,
        diff=_diff(str(path), "%s/\n" % path if exists else None, None),
        apply=lambda: shutil.rmtree(path, ignore_errors=False) if path.exists() else None,
        report=report,
    )
