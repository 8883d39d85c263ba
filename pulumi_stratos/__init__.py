"""Stratos as code for ``pulumi up``: the platform's components, validated by the same core as the
Ansible collection and handing the same definitions to the same agent.

Components (type tokens ``stratos:index:<Class>``): :class:`NetworkPartition`, :class:`Cartridge`,
:class:`LbCluster`, :class:`Application`. :class:`AutoscalingPolicy` and :class:`DeploymentPolicy`
are typed values (the core's definitions, not cloud resources); a ``stratos.model`` instance is
accepted wherever they are.
"""

from pulumi_stratos.application import Application
from pulumi_stratos.cartridge import Cartridge
from pulumi_stratos.inputs import (
    Agent,
    ApplicationArgs,
    Artifact,
    AutoscalingPolicy,
    Behaviour,
    CartridgeArgs,
    Credentials,
    Dependencies,
    DeploymentPolicy,
    Glance,
    LbClusterArgs,
    LbHealthCheck,
    Listener,
    NetworkPartitionArgs,
    NetworkPartitionRef,
    NetworkSettings,
    OpenStackSettings,
    Partition,
    PartitionRef,
    Stats,
    Sticky,
    Subscription,
    Thresholds,
)
from pulumi_stratos.lb_cluster import LbCluster
from pulumi_stratos.network_partition import NetworkPartition

#: The package's name in type tokens (stratos:index:<Class>) and its schema.
PACKAGE = "stratos"

#: The components, in the order a program usually declares them.
COMPONENTS = [NetworkPartition, Cartridge, LbCluster, Application]

__all__ = [
    "COMPONENTS",
    "PACKAGE",
    "Agent",
    "Application",
    "ApplicationArgs",
    "Artifact",
    "AutoscalingPolicy",
    "Behaviour",
    "Cartridge",
    "CartridgeArgs",
    "Credentials",
    "Dependencies",
    "DeploymentPolicy",
    "Glance",
    "LbCluster",
    "LbClusterArgs",
    "LbHealthCheck",
    "Listener",
    "NetworkPartition",
    "NetworkPartitionArgs",
    "NetworkPartitionRef",
    "NetworkSettings",
    "OpenStackSettings",
    "Partition",
    "PartitionRef",
    "Stats",
    "Sticky",
    "Subscription",
    "Thresholds",
]
