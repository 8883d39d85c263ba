"""The LbCluster component: the HAProxy container of a network partition and its published listeners.

Deliberately without ``from __future__ import annotations`` (see :mod:`pulumi_stratos.inputs`).
"""

import functools
import hashlib
import json

import pulumi
import pulumi_docker as docker
import pulumi_openstack as openstack

from pulumi_stratos import _support, definitions
from pulumi_stratos.inputs import LbClusterArgs
from stratos.drivers import docker as labels
from stratos.drivers import haproxy
from stratos.errors import Problem, ValidationError
from stratos.lb import config as lbconfig
from stratos.model import Cartridge as CartridgeDefinition
from stratos.model import LbCluster as LbClusterDefinition
from stratos.model import NetworkPartition as NetworkPartitionDefinition
from stratos.operations.lb_cluster import endpoint_host, lb_url, lb_urls
from stratos.store import StateStore, dump_definition

#: The runtime's initial server-state file (HAProxy reads it at start; the agent keeps it).
EMPTY_SERVER_STATE = "1\n"


@_support.clean_doc
class LbCluster(pulumi.ComponentResource):
    """An LB cluster: the HAProxy container stratos-lb-<name> on its network partition's Docker
    network, one published port per listener, the configuration the core renders
    (stratos.drivers.haproxy) uploaded at /usr/local/etc/stratos/haproxy.cfg, and the runtime API
    directory <state>/lb/<name>/run mounted at /run/stratos-lb for the agent, which adds and removes
    members there. On an openstack network partition, one security group rule per listener."""

    url: pulumi.Output[str]
    """URL of the first http listener (else of the first listener)."""
    urls: pulumi.Output[list[str]]
    """URL of every listener, in order."""
    container_id: pulumi.Output[str]
    """Id of the HAProxy container."""
    definition: pulumi.Output[str]
    """The LbCluster definition, canonical YAML as the agent reads it."""

    def __init__(self, name: str, args: LbClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        source = definitions.source_label("LbCluster", name)
        np_value = args.get("network_partition") or {}
        valid = definitions.validate(
            [
                definitions.definition_document("LbCluster", args, source),
                definitions.definition_document("NetworkPartition", np_value, f"{source} network_partition"),
            ]
        )
        lb: LbClusterDefinition = next(iter(valid.lb_clusters.values()))
        np: NetworkPartitionDefinition = valid.network_partitions[lb.network_partition]
        served = [
            definitions.parse(doc)
            for doc in definitions.cartridge_documents(args.get("cartridges") or [], source)
        ]
        checks = definitions.served_checks(c for c in served if isinstance(c, CartridgeDefinition))
        docker_host = args.get("docker_host")
        group_id = args.get("security_group_id")
        if np.provider == "openstack":
            _require_openstack_inputs(lb, np, docker_host, group_id, source)
        state = StateStore(definitions.state_dir(args.get("state_dir")))
        want = haproxy.desired_lb(lb, np, state, checks, args.get("image") or haproxy.lb_image())
        super().__init__("stratos:index:LbCluster", name, {}, opts)
        self._spec = lb

        endpoint: pulumi.Input[str] = docker_host if docker_host is not None else np.partitions[0].endpoint
        provider = _support.docker_provider(f"{name}-docker", endpoint, self)
        # The configuration is uploaded, not bind-mounted from <state>/lb/<name>/ as the core's
        # driver does (Pulumi's Docker provider writes no host file); the hash says so, so the
        # driver's planner never takes this container for one it made.
        shape = {**want.shape(), "mounts": [f"{want.run_dir}:{lbconfig.RUN_DIR}:rw"], "config": "upload"}
        container = docker.Container(
            f"{name}-haproxy",
            name=want.name,
            hostname=want.name,
            image=want.image,
            restart="unless-stopped",
            must_run=True,
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=want.network, aliases=[want.name])],
            ports=[
                docker.ContainerPortArgs(
                    internal=int(key.split("/")[0]), external=port, ip=ip, protocol="tcp"
                )
                for key, (ip, port) in want.ports.items()
            ],
            volumes=[docker.ContainerVolumeArgs(host_path=want.run_dir, container_path=lbconfig.RUN_DIR)],
            uploads=[
                docker.ContainerUploadArgs(
                    file=f"{lbconfig.CONF_DIR}/{lbconfig.CONFIG_NAME}",
                    # With a statistics page it holds its password: a secret in the stack's state.
                    content=pulumi.Output.secret(want.config) if lb.stats.enabled else want.config,
                    permissions="0600" if lb.stats.enabled else "0644",
                ),
                docker.ContainerUploadArgs(
                    file=lbconfig.SERVER_STATE_FILE, content=EMPTY_SERVER_STATE, permissions="0600"
                ),
            ],
            labels=_support.container_labels(
                {
                    labels.ROLE: labels.ROLE_LB,
                    labels.LB_CLUSTER: lb.name,
                    labels.NETWORK_PARTITION: np.name,
                    labels.CONFIG_HASH: _hash(
                        {**shape, "config_sha256": lbconfig.config_digest(want.config)}
                    ),
                }
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        if np.provider == "openstack":
            for listener in lb.listeners:
                openstack.networking.SecGroupRule(
                    f"{name}-listener-{listener.proxy_port}",
                    security_group_id=group_id,
                    direction="ingress",
                    ethertype="IPv4",
                    protocol="tcp",
                    port_range_min=listener.host_port(),
                    port_range_max=listener.host_port(),
                    remote_ip_prefix="0.0.0.0/0",
                    description=f"Stratos LB cluster {lb.name}: listener {listener.proxy_port}",
                    opts=pulumi.ResourceOptions(parent=self),
                )

        public = args.get("public_host")
        host = (
            pulumi.Output.from_input(public)
            if public is not None
            else pulumi.Output.from_input(endpoint).apply(functools.partial(endpoint_host, local="localhost"))
        )
        # The core's URL rule, the one the Ansible lb_cluster module reports.
        self.urls = host.apply(functools.partial(lb_urls, lb))
        self.url = self.urls.apply(functools.partial(lb_url, lb))
        self.container_id = container.id
        self.definition = pulumi.Output.from_input(dump_definition(lb))
        _support.register_outputs(self, "url", "urls", "container_id", "definition")

    @property
    def spec(self) -> LbClusterDefinition:
        """The validated core definition."""
        return self._spec


def _require_openstack_inputs(
    lb: LbClusterDefinition,
    np: NetworkPartitionDefinition,
    docker_host: object,
    group_id: object,
    source: str,
) -> None:
    problems = [
        Problem(
            source,
            f"lb_clusters/{lb.name}.{field}",
            f"is required on openstack network partition '{np.name}': pass its NetworkPartition's {output}",
            has_value=False,
        )
        for field, output, value in (
            ("docker_host", "docker_host", docker_host),
            ("security_group_id", "security_group_id", group_id),
        )
        if value is None
    ]
    if problems:
        raise ValidationError(problems)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _hash(shape: dict) -> str:
    return _sha(json.dumps(shape, sort_keys=True))
