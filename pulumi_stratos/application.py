"""The Application component: the agent with the application's definitions, and its data volumes.

Deliberately without ``from __future__ import annotations`` (see :mod:`pulumi_stratos.inputs`).
"""

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_docker as docker

from pulumi_stratos import _support, definitions
from pulumi_stratos.inputs import Agent, ApplicationArgs
from stratos.drivers import agent_container, docker_proxy
from stratos.drivers import docker as labels
from stratos.drivers.members import volume_name
from stratos.errors import Problem, ValidationError
from stratos.model import Application as ApplicationDefinition
from stratos.validation import DefinitionSet, startup_order

#: Role label of the container that hands definitions to an agent started by cloud-init.
DEFINITIONS_ROLE = labels.ROLE_DEFINITIONS


@_support.clean_doc
class Application(pulumi.ComponentResource):
    """An application: every definition it needs (itself, its cartridges, policies, LB clusters and
    network partitions), validated together by the core and handed to the agent as files of the
    host's state directory (<state>/definitions/<plural>/<name>.yml, the bytes the Ansible path
    writes); the agent container (stratos agent --state-dir <state>, Docker socket and state
    directory mounted) on a Docker network partition, or, on an OpenStack one whose cloud-init runs
    the agent, a container that is never started and only carries the files into the state
    directory; and the named data volumes of the cartridges' persistence, protected by default.
    Members are the agent's: this component declares min and max, never a count."""

    agent_container_id: pulumi.Output[str | None]
    """Id of the agent container (unset when the host's cloud-init runs the agent)."""
    definitions_container_id: pulumi.Output[str]
    """Id of the container the definition files were uploaded through (the agent's, or the hand-over container)."""
    definition_files: pulumi.Output[dict[str, str]]
    """Path on the agent's host -> content of every definition handed to the agent."""
    volume_names: pulumi.Output[list[str]]
    """Names of the data volumes (stratos-<app>-<alias>-<volume>)."""
    links: pulumi.Output[dict[str, list[str]]]
    """Alias -> aliases whose exports it receives."""
    startup_order: pulumi.Output[list[str]]
    """Aliases in the order the agent starts them."""

    def __init__(self, name: str, args: ApplicationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        app_name = str(args.get("name") or name)
        source = definitions.source_label("Application", name)
        valid = definitions.validate(definitions.application_documents(args, app_name, source))
        app = valid.applications[app_name]
        agent_args: Agent = args.get("agent") or Agent()
        problems = definitions.deferred_problems(
            {k: v for k, v in agent_args.items() if k != "docker_host"}, source, "agent"
        )
        if problems:
            raise ValidationError(problems)
        spec = agent_container.AgentSpec(
            name=agent_args.get("container_name") or agent_container.DEFAULT_NAME,
            image=agent_args.get("image"),
            state_dir=definitions.state_dir(agent_args.get("state_dir")),
            interval=float(agent_args.get("interval") or agent_container.DEFAULT_INTERVAL),
            environment=dict(agent_args.get("environment") or {}),
            docker_access=agent_args.get("docker_access") or "proxy",
            proxy_dir=agent_args.get("proxy_dir"),
            proxy_image=agent_args.get("proxy_image"),
            http_split=agent_args.get("http_split"),
            http_bind=agent_args.get("http_bind") or agent_container.DEFAULT_HTTP_BIND,
            http_port=int(agent_args.get("http_port") or agent_container.DEFAULT_HTTP_PORT),
        )
        first_np, first_endpoint = definitions.first_endpoint(
            valid, valid.deployment_policies[app.subscriptions[0].deployment_policy]
        )
        agent_host = agent_args.get("docker_host")
        on_openstack = first_np.provider == "openstack"
        if on_openstack and agent_host is None:
            raise ValidationError(
                [
                    Problem(
                        source,
                        f"applications/{app.name}.agent.docker_host",
                        f"is required on openstack network partition '{first_np.name}': pass its "
                        "NetworkPartition's docker_host",
                        has_value=False,
                    )
                ]
            )
        files = definitions.definition_files(valid, spec.state_dir)
        protect = args.get("protect_volumes", True)
        super().__init__("stratos:index:Application", name, {}, opts)
        self._definitions = valid

        providers: dict[str, docker.Provider] = {}

        def provider_for(np_name: str, partition: str, endpoint: str) -> docker.Provider:
            if endpoint not in providers:
                providers[endpoint] = _support.docker_provider(
                    f"{name}-docker-{np_name}-{partition}", endpoint, self
                )
            return providers[endpoint]

        if agent_host is not None:
            agent_provider = _support.docker_provider(f"{name}-docker-agent", agent_host, self)
        else:
            first_partition = valid.deployment_policies[app.subscriptions[0].deployment_policy]
            agent_provider = provider_for(
                first_np.name, first_partition.network_partitions[0].partitions[0].name, first_endpoint
            )
        uploads = [
            docker.ContainerUploadArgs(file=path, content=text, permissions="0644")
            for path, text in files.items()
        ]
        state_mount = docker.ContainerVolumeArgs(host_path=spec.state_dir, container_path=spec.state_dir)
        child = pulumi.ResourceOptions(parent=self, provider=agent_provider)
        if on_openstack:
            carrier = docker.Container(
                f"{name}-definitions",
                name=f"stratos-definitions-{app.name}",
                image=spec.image_ref,
                entrypoints=["true"],
                start=False,
                must_run=False,
                volumes=[state_mount],
                uploads=uploads,
                labels=_support.container_labels(
                    {labels.ROLE: DEFINITIONS_ROLE, labels.APPLICATION: app.name}
                ),
                opts=child,
            )
            self.agent_container_id = pulumi.Output.from_input(None)
        else:
            carrier = _agent_containers(name, spec, uploads, app.name, child)
            self.agent_container_id = carrier.id.apply(_optional)
        self.definitions_container_id = carrier.id

        volumes = []
        for sub in app.subscriptions:
            cartridge = valid.cartridges[sub.cartridge]
            policy = valid.deployment_policies[sub.deployment_policy]
            np, endpoint = definitions.first_endpoint(valid, policy)
            provider = (
                agent_provider
                if np.provider == "openstack"
                else provider_for(np.name, policy.network_partitions[0].partitions[0].name, endpoint)
            )
            for volume in cartridge.persistence.volumes:
                volume_labels = {
                    labels.STATE_ID: labels.state_id(spec.state_dir),
                    labels.APPLICATION: app.name,
                    labels.SUBSCRIPTION: sub.alias,
                }
                volumes.append(
                    docker.Volume(
                        f"{name}-{sub.alias}-{volume.name}",
                        name=volume_name(app.name, sub.alias, volume.name),
                        labels=[
                            docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(volume_labels.items())
                        ],
                        opts=pulumi.ResourceOptions(
                            parent=self,
                            provider=provider,
                            protect=protect and volume.keep_on_termination,
                            retain_on_delete=protect and volume.keep_on_termination,
                        ),
                    )
                )

        self.definition_files = pulumi.Output.from_input(files)
        self.volume_names = pulumi.Output.all(*[v.name for v in volumes]).apply(list)
        self.links = pulumi.Output.from_input({s.alias: list(s.links) for s in app.subscriptions})
        self.startup_order = pulumi.Output.from_input(startup_order(app))
        _support.register_outputs(
            self,
            "agent_container_id",
            "definitions_container_id",
            "definition_files",
            "volume_names",
            "links",
            "startup_order",
        )

    @property
    def definitions(self) -> DefinitionSet:
        """The validated definitions handed to the agent."""
        return self._definitions

    @property
    def spec(self) -> ApplicationDefinition:
        """The validated core definition of the application."""
        return next(iter(self._definitions.applications.values()))


def _optional(value: str) -> str | None:
    return value


def _mounts(mounts: list[str]) -> list[docker.ContainerVolumeArgs]:
    result = []
    for mount in mounts:
        host, container, mode = mount.rsplit(":", 2)
        result.append(
            docker.ContainerVolumeArgs(host_path=host, container_path=container, read_only=mode == "ro")
        )
    return result


def _confinement(want: Mapping[str, Any]) -> dict[str, Any]:
    """The container arguments of one of the core's container descriptions (its network, user,
    read-only root, tmpfs, capabilities, mounts and environment): the agent, its HTTP side and the
    Docker proxy are confined by the driver's rules, so Pulumi creates them as the driver would."""
    return dict(
        network_mode=want["network_mode"],
        user=want["user"],
        read_only=want["read_only"],
        tmpfs=want["tmpfs"],
        capabilities=docker.ContainerCapabilitiesArgs(drops=want["cap_drop"], adds=want.get("cap_add")),
        security_opts=want["security_opt"],
        volumes=_mounts(want["mounts"]),
        envs=[f"{k}={v}" for k, v in want["environment"].items()],
    )


def _agent_containers(
    name: str,
    spec: agent_container.AgentSpec,
    uploads: list[docker.ContainerUploadArgs],
    app_name: str,
    child: pulumi.ResourceOptions,
) -> docker.Container:
    """The agent as the core's driver describes it: its Docker proxy, the one-shot container that gives
    it the state directory, and the agent itself (unprivileged, read-only, only the proxy's socket)."""
    want = agent_container.desired(spec)
    before: list[pulumi.Resource] = []
    proxy = spec.proxy()
    if proxy is not None:
        shape = docker_proxy.desired(proxy)
        before.append(
            docker.Container(
                f"{name}-docker-proxy",
                name=proxy.name,
                image=proxy.image,
                entrypoints=shape["entrypoint"],
                init=shape["init"],
                **_confinement(shape),
                restart="unless-stopped",
                must_run=True,
                labels=_support.container_labels(
                    {
                        agent_container.ROLE_LABEL: agent_container.PROXY_ROLE,
                        agent_container.CONFIG_HASH_LABEL: docker_proxy.config_hash(proxy),
                    }
                ),
                opts=child,
            )
        )
    if spec.docker_access != "socket":
        owner = agent_container.owner_command(spec)
        before.append(
            docker.Container(
                f"{name}-state-owner",
                name=f"{spec.name}-state-owner",
                image=spec.image_ref,
                entrypoints=owner[:1],
                command=owner[1:],
                user="0:0",
                network_mode="none",
                read_only=True,
                capabilities=docker.ContainerCapabilitiesArgs(
                    drops=["ALL"], adds=list(agent_container.OWNER_CAPS)
                ),
                security_opts=["no-new-privileges"],
                volumes=_mounts([f"{spec.state_dir}:{spec.state_dir}:rw"]),
                attach=True,
                must_run=False,
                labels=_support.container_labels({agent_container.ROLE_LABEL: "agent-owner"}),
                opts=child,
            )
        )
    agent = docker.Container(
        f"{name}-agent",
        name=spec.name,
        image=spec.image_ref,
        command=want["command"],
        restart=spec.restart,
        must_run=True,
        **_confinement(want),
        uploads=uploads,
        destroy_grace_seconds=agent_container.STOP_TIMEOUT,
        labels=_support.container_labels(
            {
                agent_container.ROLE_LABEL: agent_container.AGENT_ROLE,
                agent_container.CONFIG_HASH_LABEL: agent_container.config_hash(spec),
                labels.APPLICATION: app_name,
            }
        ),
        opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=before)),
    )
    http = agent_container.desired_http(spec)
    if http is not None:
        # The webhook, /metrics and /status: no Docker access, uid 10002, <state>/agent read-only
        # but for triggers/ and http/ (docs/security.md).
        docker.Container(
            f"{name}-agent-http",
            name=http["name"],
            image=http["image"],
            command=http["command"],
            restart=spec.restart,
            must_run=True,
            **_confinement(http),
            labels=_support.container_labels(
                {
                    agent_container.ROLE_LABEL: agent_container.HTTP_ROLE,
                    agent_container.CONFIG_HASH_LABEL: agent_container.http_config_hash(http),
                    labels.APPLICATION: app_name,
                }
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[agent, *before])),
        )
    return agent
