"""The Stratos seed demo on an OpenStack network partition.

The network partition ``cloud`` makes a network, subnet and router, a security group (SSH from
``adminCidr``; the LB cluster adds its listener) and one Docker host whose cloud-init installs
Docker and starts the agent. Images are built on that host through the Docker provider
(``ssh://debian@<floating IP>``, so the key pair's private key must be in your SSH agent), and the
PHP image can also be uploaded to Glance. The agent, started by cloud-init, receives the
application's definitions in its state directory.
"""

import pulumi

import pulumi_stratos as stratos

config = pulumi.Config()
php_image_file = config.get("phpImageFile") or None

cloud = stratos.NetworkPartitionArgs(
    name="cloud",
    provider="openstack",
    partitions=[stratos.Partition(name="h0", zone="nova")],
    network=stratos.NetworkSettings(name="stratos-cloud", subnet="10.20.0.0/24"),
    openstack=stratos.OpenStackSettings(
        flavor=config.get("flavor") or "m1.small",
        image=config.get("hostImage") or "debian-12",
        key_pair=config.require("keyPair"),
        external_network=config.get("externalNetwork") or "public",
        hosts=1,
        admin_cidr=config.get("adminCidr") or "0.0.0.0/0",
    ),
    agent_image=config.require("agentImage"),
)
network = stratos.NetworkPartition("cloud", cloud)
on_host = {"docker_host": network.docker_host}

php = stratos.CartridgeArgs(builtin="php", **on_host)
if php_image_file:
    php["glance"] = stratos.Glance(local_file_path=php_image_file)
mysql = stratos.CartridgeArgs(builtin="mysql", **on_host)
haproxy = stratos.CartridgeArgs(builtin="haproxy", **on_host)
images = {
    name: stratos.Cartridge(name, args)
    for name, args in (("php", php), ("mysql", mysql), ("haproxy", haproxy))
}

web = stratos.LbClusterArgs(
    name="web",
    network_partition=cloud,
    listeners=[stratos.Listener(proxy_port=8080, port=80)],
    cartridges=[php],
    docker_host=network.docker_host,
    security_group_id=network.security_group_id,
)
lb = stratos.LbCluster("web", web, opts=pulumi.ResourceOptions(depends_on=[images["haproxy"]]))

shop = stratos.Application(
    "shop",
    stratos.ApplicationArgs(
        name="shop",
        description="PHP front end counting visits in MySQL",
        subscriptions=[
            stratos.Subscription(
                alias="db",
                cartridge="mysql",
                deployment_policy="single",
                environment={"MYSQL_DATABASE": "shop", "MYSQL_USER": "shop"},
            ),
            stratos.Subscription(
                alias="web",
                cartridge="php",
                min=2,
                max=4,
                autoscaling_policy="php-load",
                deployment_policy="on-cloud",
                lb_cluster="web",
                links=["db"],
                artifact=stratos.Artifact(url="https://github.com/example/shop.git"),
            ),
        ],
        dependencies=stratos.Dependencies(startup_order=[["db", "web"]]),
        cartridges=[php, mysql],
        deployment_policies=[
            stratos.DeploymentPolicy(
                name="on-cloud",
                network_partitions=[
                    stratos.NetworkPartitionRef(
                        name="cloud", partitions=[stratos.PartitionRef(name="h0", max=4)]
                    )
                ],
            ),
            stratos.DeploymentPolicy(
                name="single",
                network_partitions=[
                    stratos.NetworkPartitionRef(
                        name="cloud", partitions=[stratos.PartitionRef(name="h0", max=1)]
                    )
                ],
            ),
        ],
        autoscaling_policies=[
            stratos.AutoscalingPolicy(name="php-load", thresholds=stratos.Thresholds(requests_in_flight=20))
        ],
        lb_clusters=[web],
        agent=stratos.Agent(image=config.require("agentImage"), docker_host=network.docker_host),
    ),
    opts=pulumi.ResourceOptions(depends_on=[lb, images["php"], images["mysql"]]),
)

pulumi.export("url", lb.url)
pulumi.export("hosts", network.host_addresses)
pulumi.export("docker_host", network.docker_host)
pulumi.export("image_digests", {name: image.image_digest for name, image in images.items()})
pulumi.export("glance_image_id", images["php"].glance_image_id)
