"""Which Pulumi typed value mirrors which core model: one table for the tests that compare them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from pulumi_stratos import inputs
from stratos import model

#: Pulumi typed value -> the core model it mirrors (matched explicitly: several names differ).
MIRRORS: list[tuple[Any, type[BaseModel]]] = [
    (inputs.Partition, model.Partition),
    (inputs.NetworkSettings, model.NetworkSettings),
    (inputs.OpenStackSettings, model.OpenStackSettings),
    (inputs.NetworkPartitionArgs, model.NetworkPartition),
    (inputs.PartitionRef, model.PartitionRef),
    (inputs.NetworkPartitionRef, model.NetworkPartitionRef),
    (inputs.DeploymentPolicy, model.DeploymentPolicy),
    (inputs.Thresholds, model.Thresholds),
    (inputs.Behaviour, model.Behaviour),
    (inputs.AutoscalingPolicy, model.AutoscalingPolicy),
    (inputs.Listener, model.Listener),
    (inputs.LbHealthCheck, model.LbHealthCheck),
    (inputs.Sticky, model.Sticky),
    (inputs.Stats, model.Stats),
    (inputs.LbClusterArgs, model.LbCluster),
    (inputs.Credentials, model.Credentials),
    (inputs.Artifact, model.Artifact),
    (inputs.Subscription, model.Subscription),
    (inputs.Dependencies, model.Dependencies),
    (inputs.ApplicationArgs, model.Application),
]
