"""The Stratos seed demo as a Pulumi program, on the local Docker Engine.

The same platform as ``examples/seed-demo/*.yml`` applied by the Ansible collection: a network
partition with two partitions, the php, mysql and haproxy cartridge images built from the core's
built-in cartridges, an LB cluster publishing port 8080, and the application ``shop`` (PHP linked to
a MySQL, autoscaled between 2 and 6 members) whose definitions go to the agent.
"""

import pulumi

import pulumi_stratos as stratos

config = pulumi.Config()
base_image = config.get("baseImage") or None
agent_image = config.get("agentImage") or None
demo_port = config.get_int("demoPort") or 8080

# ----------------------------------------------------------------- typed values (the definitions)

local = stratos.NetworkPartitionArgs(
    name="local",
    provider="docker",
    partitions=[
        stratos.Partition(name="p1", endpoint="unix:///var/run/docker.sock", zone="a"),
        stratos.Partition(name="p2", endpoint="unix:///var/run/docker.sock", zone="b"),
    ],
    network=stratos.NetworkSettings(name="stratos-local"),
)


def builtin(name: str) -> stratos.CartridgeArgs:
    args = stratos.CartridgeArgs(builtin=name)
    if base_image:
        args["base_image"] = base_image
    return args


php, mysql, haproxy = builtin("php"), builtin("mysql"), builtin("haproxy")

php_load = stratos.AutoscalingPolicy(
    name="php-load",
    thresholds=stratos.Thresholds(requests_in_flight=20, load_average=70, memory_consumption=80),
    behaviour=stratos.Behaviour(
        evaluation_interval=5,
        prediction_horizon=20,
        smoothing_window=4,
        tolerance=0.1,
        scale_down_stabilisation=60,
        max_step=2,
    ),
)
php_spread = stratos.DeploymentPolicy(
    name="php-spread",
    network_partitions=[
        stratos.NetworkPartitionRef(
            name="local",
            algorithm="round-robin",
            partitions=[stratos.PartitionRef(name="p1", max=3), stratos.PartitionRef(name="p2", max=3)],
        )
    ],
)
single = stratos.DeploymentPolicy(
    name="single",
    network_partitions=[
        stratos.NetworkPartitionRef(
            name="local", algorithm="one-after-another", partitions=[stratos.PartitionRef(name="p1", max=1)]
        )
    ],
)

listener = stratos.Listener(proxy_port=8080, port=80, protocol="http")
if demo_port != 8080:
    listener["publish"] = demo_port
web = stratos.LbClusterArgs(
    name="web",
    network_partition=local,
    type="haproxy",
    algorithm="roundrobin",
    listeners=[listener],
    cartridges=[php],
)

# ----------------------------------------------------------------- resources

network = stratos.NetworkPartition("local", local)
images = {
    name: stratos.Cartridge(name, args)
    for name, args in (("php", php), ("mysql", mysql), ("haproxy", haproxy))
}
lb = stratos.LbCluster("web", web, opts=pulumi.ResourceOptions(depends_on=[network, images["haproxy"]]))
agent = stratos.Agent(image=agent_image) if agent_image else stratos.Agent()
shop = stratos.Application(
    "shop",
    stratos.ApplicationArgs(
        name="shop",
        description="PHP front end counting visits in MySQL",
        subscriptions=[
            stratos.Subscription(
                alias="db",
                cartridge="mysql",
                min=1,
                max=1,
                deployment_policy="single",
                environment={"MYSQL_DATABASE": "shop", "MYSQL_USER": "shop"},
            ),
            stratos.Subscription(
                alias="web",
                cartridge="php",
                min=2,
                max=6,
                autoscaling_policy="php-load",
                deployment_policy="php-spread",
                lb_cluster="web",
                links=["db"],
                artifact=stratos.Artifact(url="file:///var/lib/stratos/git/shop.git", branch="main"),
            ),
        ],
        dependencies=stratos.Dependencies(
            startup_order=[["db", "web"]], termination_behaviour="terminate-all"
        ),
        network_partition_policy="one-after-another",
        cartridges=[php, mysql],
        deployment_policies=[php_spread, single],
        autoscaling_policies=[php_load],
        lb_clusters=[web],
        agent=agent,
    ),
    opts=pulumi.ResourceOptions(depends_on=[network, lb, images["php"], images["mysql"]]),
)

pulumi.export("url", lb.url)
pulumi.export("network_ids", network.network_ids)
pulumi.export("image_digests", {name: image.image_digest for name, image in images.items()})
pulumi.export("agent_container_id", shop.agent_container_id)
pulumi.export("volumes", shop.volume_names)
