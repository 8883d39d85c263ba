"""cloud-init that turns a Debian cloud instance into a Stratos Docker host (pure: text in, text out).

Every host gets Docker from Debian's archive (``docker.io``), the login user in the ``docker`` group
(the Pulumi Docker provider reaches the host over ``ssh://``), the state directory and the
partition's Docker network. The first host also runs the agent: a systemd unit around the same
container the core's agent driver describes (:func:`stratos.drivers.agent_container.desired`:
``stratos agent --state-dir …`` as uid 10001 on a read-only root file system, with the state
directory and its Docker proxy's socket mounted, host network), restarted by systemd, its image
pulled before each start; before it, the unit (re)starts the agent's Docker proxy and gives the state
directory to the agent's uid; after it, it starts the agent's HTTP side (``<name>-http``, uid 10002).
"""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from stratos.drivers import agent_container, docker_proxy
from stratos.drivers.docker import NETWORK_PARTITION
from stratos.drivers.network import LABEL as NETWORK_LABEL

UNIT_PATH = "/etc/systemd/system/stratos-agent.service"


def _confinement(want: dict[str, Any]) -> list[str]:
    """``docker run`` flags of a container summary's user, root file system, privileges, mounts and
    environment."""
    flags = ["--user", want["user"]]
    if want.get("read_only"):
        flags.append("--read-only")
    for path, options in (want.get("tmpfs") or {}).items():
        flags += ["--tmpfs", f"{path}:{options}"]
    for cap in want.get("cap_drop") or []:
        flags += ["--cap-drop", cap]
    for cap in want.get("cap_add") or []:
        flags += ["--cap-add", cap]
    for option in want.get("security_opt") or []:
        flags += ["--security-opt", option]
    for mount in want["mounts"]:
        flags += ["--volume", mount]
    for key, value in want["environment"].items():
        flags += ["--env", f"{key}={value}"]
    return flags


def proxy_run_command(spec: agent_container.AgentSpec) -> list[str] | None:
    """``docker run`` of the agent's Docker proxy (``None`` unless it has one)."""
    proxy = spec.proxy()
    if proxy is None:
        return None
    want = docker_proxy.desired(proxy)
    command = ["/usr/bin/docker", "run", "--detach", "--restart", "unless-stopped", "--name", proxy.name]
    command += ["--init", "--network", want["network_mode"], *_confinement(want)]
    command += ["--label", f"{agent_container.ROLE_LABEL}={agent_container.PROXY_ROLE}"]
    command += ["--label", f"{agent_container.CONFIG_HASH_LABEL}={docker_proxy.config_hash(proxy)}"]
    return command + ["--entrypoint", want["entrypoint"][0], proxy.image, *want["entrypoint"][1:]]


def owner_run_command(spec: agent_container.AgentSpec) -> list[str] | None:
    """The one-shot ``docker run`` that gives the state directory to the agent's uid."""
    if spec.docker_access == "socket":
        return None
    owner = agent_container.owner_command(spec)
    command = ["/usr/bin/docker", "run", "--rm", "--network", "none", "--user", "0:0", "--read-only"]
    command += ["--cap-drop", "ALL"]
    for cap in agent_container.OWNER_CAPS:
        command += ["--cap-add", cap]
    command += ["--security-opt", "no-new-privileges", "--volume", f"{spec.state_dir}:{spec.state_dir}:rw"]
    return command + ["--entrypoint", owner[0], spec.image_ref, *owner[1:]]


def agent_run_command(spec: agent_container.AgentSpec, network_partition: str) -> list[str]:
    """``docker run`` of the agent container, from the core's description of it."""
    want = agent_container.desired(spec)
    command = ["/usr/bin/docker", "run", "--rm", "--name", spec.name, "--network", want["network_mode"]]
    command += _confinement(want)
    labels = {
        agent_container.ROLE_LABEL: agent_container.AGENT_ROLE,
        agent_container.CONFIG_HASH_LABEL: agent_container.config_hash(spec),
        NETWORK_PARTITION: network_partition,
    }
    for key, value in labels.items():
        command += ["--label", f"{key}={value}"]
    return command + [spec.image_ref, *want["command"]]


def http_run_command(spec: agent_container.AgentSpec) -> list[str] | None:
    """``docker run`` of the agent's HTTP side (``None`` without the split)."""
    want = agent_container.desired_http(spec)
    if want is None:
        return None
    command = ["/usr/bin/docker", "run", "--detach", "--restart", "unless-stopped", "--name", want["name"]]
    command += ["--network", want["network_mode"], *_confinement(want)]
    command += ["--label", f"{agent_container.ROLE_LABEL}={agent_container.HTTP_ROLE}"]
    command += ["--label", f"{agent_container.CONFIG_HASH_LABEL}={agent_container.http_config_hash(want)}"]
    return command + [spec.image_ref, *want["command"]]


def agent_unit(spec: agent_container.AgentSpec, network_partition: str) -> str:
    """The systemd unit that keeps the agent container running."""
    docker = "/usr/bin/docker"
    return "\n".join(
        [
            "[Unit]",
            "Description=Stratos agent (keeps application members between min and max)",
            "After=docker.service network-online.target",
            "Requires=docker.service",
            "Wants=network-online.target",
            "",
            "[Service]",
            # The leading '-' lets the unit start from a locally loaded image when no registry answers.
            f"ExecStartPre=-{docker} pull {spec.image_ref}",
            f"ExecStartPre=-{docker} rm --force {spec.name}",
            *_proxy_lines(spec),
            "ExecStart=" + shlex.join(agent_run_command(spec, network_partition)),
            *_http_lines(spec),
            f"ExecStop={docker} stop --time {agent_container.STOP_TIMEOUT} {spec.name}",
            "Restart=always",
            "RestartSec=5",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def _http_lines(spec: agent_container.AgentSpec) -> list[str]:
    """The HTTP side starts with the agent and goes with it."""
    run = http_run_command(spec)
    if run is None:
        return []
    name = f"{spec.name}-http"
    return [
        f"ExecStartPost=-/usr/bin/docker rm --force {name}",
        "ExecStartPost=" + shlex.join(run),
        f"ExecStopPost=-/usr/bin/docker rm --force {name}",
    ]


def _proxy_lines(spec: agent_container.AgentSpec) -> list[str]:
    docker = "/usr/bin/docker"
    lines = []
    proxy, proxy_run, owner_run = spec.proxy(), proxy_run_command(spec), owner_run_command(spec)
    if proxy is not None and proxy_run is not None:
        lines += [
            f"ExecStartPre=-{docker} pull {proxy.image}",
            f"ExecStartPre=-{docker} rm --force {proxy.name}",
        ]
        lines.append("ExecStartPre=" + shlex.join(proxy_run))
    if owner_run is not None:
        lines.append("ExecStartPre=" + shlex.join(owner_run))
    return lines


def user_data(
    *,
    network_partition: str,
    network_name: str,
    ssh_user: str,
    state_dir: str,
    agent: agent_container.AgentSpec | None,
) -> str:
    """The ``#cloud-config`` document of one host; ``agent`` only on the host that runs it."""
    runcmd: list[list[str]] = [
        ["systemctl", "enable", "--now", "docker"],
        ["usermod", "--append", "--groups", "docker", ssh_user],
        ["install", "-d", "-m", "0755", state_dir],
        [
            "sh",
            "-c",
            f"docker network inspect {shlex.quote(network_name)} >/dev/null 2>&1 || docker network create "
            f"--driver bridge --label {NETWORK_LABEL}={shlex.quote(network_partition)} "
            f"{shlex.quote(network_name)}",
        ],
    ]
    config: dict[str, object] = {
        "package_update": True,
        "packages": ["docker.io", "ca-certificates"],
    }
    if agent is not None:
        config["write_files"] = [
            {
                "path": UNIT_PATH,
                "owner": "root:root",
                "permissions": "0644",
                "content": agent_unit(agent, network_partition),
            }
        ]
        runcmd += [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", "stratos-agent.service"]]
    config["runcmd"] = runcmd
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=1000)
