"""The NetworkPartition component: where members may run.

Deliberately without ``from __future__ import annotations`` (see :mod:`pulumi_stratos.inputs`).
"""

import functools
from typing import Any

import pulumi
import pulumi_docker as docker
import pulumi_openstack as openstack

from pulumi_stratos import _support, cloudinit, definitions
from pulumi_stratos.inputs import NetworkPartitionArgs
from stratos.drivers import agent_container
from stratos.drivers import docker as labels
from stratos.drivers.network import desired_network
from stratos.endpoints import docker_endpoints
from stratos.model import NetworkPartition as NetworkPartitionDefinition
from stratos.model import OpenStackSettings
from stratos.store import dump_definition

DEFAULT_OPENSTACK_SUBNET = "10.20.0.0/24"
DEFAULT_SSH_USER = "debian"


@_support.clean_doc
class NetworkPartition(pulumi.ComponentResource):
    """A network partition: on provider docker, a Docker network (and a Docker provider) per Docker
    endpoint of its partitions; on provider openstack, a network, subnet and router, a security
    group admitting SSH only (each LbCluster adds its listeners), and Docker hosts whose cloud-init
    installs Docker and starts the agent on the first one."""

    network_name: pulumi.Output[str]
    """Name of the Docker network members and the load balancer share."""
    network_ids: pulumi.Output[dict[str, str]]
    """Partition name -> id of its Docker network (docker) or of the Neutron network (openstack)."""
    docker_host: pulumi.Output[str]
    """Docker endpoint the load balancer and the agent are deployed through: the first partition's endpoint (docker) or ssh://<user>@<first host's floating IP> (openstack)."""
    host_addresses: pulumi.Output[list[str]]
    """Floating IPs of the Docker hosts (openstack; empty for docker)."""
    security_group_id: pulumi.Output[str | None]
    """Id of the hosts' security group (openstack; unset for docker)."""
    definition: pulumi.Output[str]
    """The NetworkPartition definition, canonical YAML as the agent reads it."""

    def __init__(
        self, name: str, args: NetworkPartitionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        source = definitions.source_label("NetworkPartition", name)
        spec = definitions.parse(definitions.definition_document("NetworkPartition", args, source))
        assert isinstance(spec, NetworkPartitionDefinition)
        if spec.provider == "openstack":
            settings = OpenStackSettingsResolved.of(spec, args)
        super().__init__("stratos:index:NetworkPartition", name, {}, opts)
        self._spec = spec

        if spec.provider == "docker":
            self._docker(name, spec)
        else:
            self._openstack(name, spec, settings)
        self.network_name = pulumi.Output.from_input(spec.network_name())
        self.definition = pulumi.Output.from_input(dump_definition(spec))
        _support.register_outputs(
            self,
            "network_name",
            "network_ids",
            "docker_host",
            "host_addresses",
            "security_group_id",
            "definition",
        )

    @property
    def spec(self) -> NetworkPartitionDefinition:
        """The validated core definition."""
        return self._spec

    # ------------------------------------------------------------------ docker

    def _docker(self, name: str, spec: NetworkPartitionDefinition) -> None:
        wanted = desired_network(spec)
        endpoints = docker_endpoints(spec)
        first_partition = {e: next(p.name for p in spec.partitions if p.endpoint == e) for e in endpoints}
        networks: dict[str, docker.Network] = {}
        for endpoint in endpoints:
            suffix = "" if len(endpoints) == 1 else f"-{first_partition[endpoint]}"
            provider = _support.docker_provider(f"{name}-docker{suffix}", endpoint, self)
            networks[endpoint] = docker.Network(
                f"{name}-network{suffix}",
                name=wanted.name,
                driver=wanted.driver,
                ipam_configs=[docker.NetworkIpamConfigArgs(subnet=wanted.subnet)] if wanted.subnet else None,
                labels=[docker.NetworkLabelArgs(label=k, value=v) for k, v in sorted(wanted.labels.items())],
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
        self.network_ids = pulumi.Output.all(
            **{p.name: networks[p.endpoint].id for p in spec.partitions}
        ).apply(dict)
        self.docker_host = pulumi.Output.from_input(spec.partitions[0].endpoint)
        self.host_addresses = pulumi.Output.from_input([])
        self.security_group_id = pulumi.Output.from_input(None)

    # ------------------------------------------------------------------ openstack

    def _openstack(self, name: str, spec: NetworkPartitionDefinition, s: "OpenStackSettingsResolved") -> None:
        child = pulumi.ResourceOptions(parent=self)
        network = openstack.networking.Network(
            f"{name}-network", name=spec.network_name(), admin_state_up=True, opts=child
        )
        subnet = openstack.networking.Subnet(
            f"{name}-subnet",
            name=spec.network_name(),
            network_id=network.id,
            cidr=s.subnet,
            ip_version=4,
            dns_nameservers=s.dns_nameservers or None,
            opts=child,
        )
        external = openstack.networking.get_network_output(
            name=s.openstack.external_network, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        router = openstack.networking.Router(
            f"{name}-router", name=f"stratos-{spec.name}", external_network_id=external.id, opts=child
        )
        interface = openstack.networking.RouterInterface(
            f"{name}-router-interface", router_id=router.id, subnet_id=subnet.id, opts=child
        )
        group = openstack.networking.SecGroup(
            f"{name}-secgroup",
            name=f"stratos-{spec.name}",
            description=f"Stratos network partition {spec.name}: SSH and the LB clusters' listeners",
            opts=child,
        )
        openstack.networking.SecGroupRule(
            f"{name}-ssh",
            security_group_id=group.id,
            direction="ingress",
            ethertype="IPv4",
            protocol="tcp",
            port_range_min=22,
            port_range_max=22,
            remote_ip_prefix=s.openstack.admin_cidr,
            description="SSH (administration and the Pulumi Docker provider)",
            opts=child,
        )
        addresses: list[pulumi.Output[str]] = []
        for i in range(s.openstack.hosts):
            port = openstack.networking.Port(
                f"{name}-host-{i}-port",
                name=f"stratos-{spec.name}-{i}",
                network_id=network.id,
                fixed_ips=[openstack.networking.PortFixedIpArgs(subnet_id=subnet.id)],
                security_group_ids=[group.id],
                admin_state_up=True,
                opts=child,
            )
            openstack.compute.Instance(
                f"{name}-host-{i}",
                name=f"stratos-{spec.name}-{i}",
                flavor_name=s.openstack.flavor,
                image_name=s.openstack.image,
                key_pair=s.openstack.key_pair,
                networks=[openstack.compute.InstanceNetworkArgs(port=port.id)],
                user_data=s.user_data(spec, agent=i == 0),
                metadata={labels.NETWORK_PARTITION: spec.name, labels.HOST: str(i)},
                opts=child,
            )
            floating = openstack.networking.FloatingIp(
                f"{name}-host-{i}-ip",
                pool=s.openstack.external_network,
                port_id=port.id,
                description=f"Stratos network partition {spec.name}, host {i}",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[interface]),
            )
            addresses.append(floating.address)
        self.network_ids = network.id.apply(
            functools.partial(_same_for_all, [p.name for p in spec.partitions])
        )
        self.host_addresses = pulumi.Output.all(*addresses).apply(list)
        self.docker_host = addresses[0].apply(functools.partial(_support.ssh_endpoint, s.ssh_user))
        self.security_group_id = group.id.apply(_optional)


def _same_for_all(partitions: list[str], network_id: str) -> dict[str, str]:
    return {p: network_id for p in partitions}


def _optional(value: str) -> str | None:
    return value


class OpenStackSettingsResolved:
    """The openstack settings of a partition with every default filled in (plain values)."""

    def __init__(self, openstack_spec: OpenStackSettings, args: dict[str, Any], subnet: str) -> None:
        self.openstack = openstack_spec
        self.subnet = subnet
        self.ssh_user = str(args.get("ssh_user") or DEFAULT_SSH_USER)
        self.state_dir = definitions.state_dir(args.get("state_dir"))
        self.dns_nameservers = list(args.get("dns_nameservers") or [])
        self.agent = agent_container.AgentSpec(image=args.get("agent_image"), state_dir=self.state_dir)

    @classmethod
    def of(cls, spec: NetworkPartitionDefinition, args: NetworkPartitionArgs) -> "OpenStackSettingsResolved":
        subnet = str(spec.network.subnet) if spec.network.subnet is not None else DEFAULT_OPENSTACK_SUBNET
        return cls(spec.openstack or OpenStackSettings(), dict(args), subnet)

    def user_data(self, spec: NetworkPartitionDefinition, *, agent: bool) -> str:
        return cloudinit.user_data(
            network_partition=spec.name,
            network_name=spec.network_name(),
            ssh_user=self.ssh_user,
            state_dir=self.state_dir,
            agent=self.agent if agent else None,
        )
