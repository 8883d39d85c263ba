"""Typed arguments more than one Pulumi test module builds components from."""

from __future__ import annotations

from typing import Any

import pulumi_stratos as ps


def mysql_on(network_partition: ps.NetworkPartitionArgs, **extra: Any) -> ps.ApplicationArgs:
    """One mysql subscription ``db`` placed by policy ``here`` on partition ``h0`` of
    ``network_partition`` (named ``cloud``): the smallest application on an OpenStack partition."""
    return ps.ApplicationArgs(
        subscriptions=[ps.Subscription(alias="db", cartridge="mysql", deployment_policy="here")],
        cartridges=[ps.CartridgeArgs(builtin="mysql")],
        deployment_policies=[
            ps.DeploymentPolicy(
                name="here",
                network_partitions=[
                    ps.NetworkPartitionRef(name="cloud", partitions=[ps.PartitionRef(name="h0")])
                ],
            )
        ],
        network_partitions=[network_partition],
        **extra,
    )
