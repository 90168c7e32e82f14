"""Apache Kafka in KRaft mode: a StatefulSet of combined broker+controller nodes and its topic."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import images
from .. import k8s as kx

KAFKA_IMAGE = images.KAFKA
"""Official image (pinned)."""
CLIENT_PORT = 9092
CONTROLLER_PORT = 9093
DATA_DIR = "/var/lib/kafka/data"
LOG_DIR = f"{DATA_DIR}/logs"
"""Kafka's log.dirs: a subdirectory, because a volume root may hold `lost+found`, which Kafka
would refuse as a malformed partition directory."""
NODE_START = 'export KAFKA_NODE_ID="${HOSTNAME##*-}"; exec /etc/kafka/docker/run'
"""Container command: node id = pod ordinal (kafka-2 → 2), then the image's own entrypoint."""


@dataclass(frozen=True, kw_only=True)
class KafkaArgs:
    """Inputs of a Kafka."""

    namespace: pulumi.Input[str]
    """Namespace of every object."""
    nodes: int = 1
    """Combined broker+controller nodes (3 tolerates one failure; 2 tolerates none)."""
    topic: str = "logs"
    """Topic created for the service."""
    partitions: int = 6
    """Partitions of `topic`."""
    storage_size: str = "10Gi"
    """PVC size per node."""
    storage_class: str | None = None
    """StorageClass (None = cluster default)."""
    resources: kx.ResourceSpec = field(default_factory=lambda: kx.ResourceSpec(
        cpu_request="250m", memory_request="1Gi", cpu_limit="1", memory_limit="1Gi"))
    """Requests/limits per node."""
    heap: str | None = None
    """JVM heap (-Xms/-Xmx); None = half the memory limit (the page cache does the rest)."""
    uid: int = kx.NON_ROOT_UID
    """uid/gid the pods run as."""


def replication_factor(nodes: int) -> int:
    """Replication factor for every topic: min(3, nodes)."""
    return min(3, nodes)


def min_insync_replicas(nodes: int) -> int:
    """min.insync.replicas: RF − 1, at least 1 (one replica may be down without blocking acks=all)."""
    return max(1, replication_factor(nodes) - 1)


_UNITS = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024, "M": 1e6 / 2**20,
          "G": 1e9 / 2**20}


def heap_for(memory_limit: str) -> str:
    """Half of a memory quantity as a JVM size (`2Gi` → `1024m`), at least 256m."""
    for unit, mebibytes in sorted(_UNITS.items(), key=lambda u: -len(u[0])):
        if memory_limit.endswith(unit):
            total = float(memory_limit[: -len(unit)]) * mebibytes
            break
    else:
        total = float(memory_limit) / 2**20
    return f"{max(256, int(total // 2))}m"


def quorum_voters(name: str, namespace: str, nodes: int) -> str:
    """Static KRaft controller voters `id@host:port,...`; node id = StatefulSet pod ordinal."""
    return ",".join(
        f"{i}@{name}-{i}.{name}-headless.{namespace}.svc.cluster.local:{CONTROLLER_PORT}"
        for i in range(nodes))


def bootstrap_servers(name: str, namespace: str, nodes: int) -> str:
    """Client bootstrap list (every node, so clients can start while one is down)."""
    return ",".join(f"{name}-{i}.{name}-headless.{namespace}.svc.cluster.local:{CLIENT_PORT}"
                    for i in range(nodes))


def broker_env(name: str, namespace: str, nodes: int, heap: str) -> list[dict[str, object]]:
    """KAFKA_* variables the image's entrypoint turns into server.properties (`_` → `.`)."""
    rf = replication_factor(nodes)
    isr = min_insync_replicas(nodes)
    plain = {
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"PLAINTEXT://:{CLIENT_PORT},CONTROLLER://:{CONTROLLER_PORT}",
        # $(POD_NAME) is expanded by Kubernetes from the env entry defined before it.
        "KAFKA_ADVERTISED_LISTENERS":
            f"PLAINTEXT://$(POD_NAME).{name}-headless.{namespace}.svc.cluster.local:{CLIENT_PORT}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": quorum_voters(name, namespace, nodes),
        "KAFKA_LOG_DIRS": LOG_DIR,
        "KAFKA_DEFAULT_REPLICATION_FACTOR": str(rf),
        "KAFKA_MIN_INSYNC_REPLICAS": str(isr),
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": str(rf),
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": str(rf),
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": str(isr),
        "KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE": "false",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "3000",
        "KAFKA_HEAP_OPTS": f"-Xms{heap} -Xmx{heap}",
    }
    pod_name = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    return [pod_name, *({"name": k, "value": v} for k, v in plain.items())]


def topic_script(bootstrap: str, topic: str, partitions: int, nodes: int) -> str:
    """Shell run by the topic Job: wait for the brokers, create the topic, grow its partitions."""
    tool = "/opt/kafka/bin/kafka-topics.sh"
    rf = replication_factor(nodes)
    isr = min_insync_replicas(nodes)
    return (
        "set -eu\n"
        f'until {tool} --bootstrap-server "{bootstrap}" --list >/dev/null; do sleep 5; done\n'
        f'{tool} --bootstrap-server "{bootstrap}" --create --if-not-exists --topic {topic} '
        f"--partitions {partitions} --replication-factor {rf} "
        f"--config min.insync.replicas={isr} --config unclean.leader.election.enable=false\n"
        # Partitions can only grow; a lower config value is left alone instead of failing.
        f'current=$({tool} --bootstrap-server "{bootstrap}" --describe --topic {topic} '
        "| grep -c 'Partition: ' || true)\n"
        f'if [ "$current" -lt {partitions} ]; then {tool} --bootstrap-server "{bootstrap}" '
        f"--alter --topic {topic} --partitions {partitions}; fi\n"
    )


class Kafka(pulumi.ComponentResource):
    """A KRaft Kafka cluster (every node broker and controller) plus the service's topic."""

    bootstrap_servers: pulumi.Output[str]
    """`host:port,...` for clients."""
    topic: pulumi.Output[str]
    """Name of the created topic."""
    selector: dict[str, str]
    """Labels selecting the Kafka pods (for NetworkPolicies)."""

    def __init__(self, name: str, args: KafkaArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:Kafka", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self._labels = kx.labels("kafka", "broker", name)
        self.selector = kx.selector_labels("kafka", "broker", name)
        ns = pulumi.Output.from_input(args.namespace)
        self.bootstrap_servers = ns.apply(lambda n: bootstrap_servers(name, n, args.nodes))
        self._create_service_account("broker")
        headless = self._create_services()
        statefulset = self._create_statefulset(headless)
        self._create_pdb()
        self.topic = self._create_topic_job(statefulset)
        self.register_outputs({"bootstrap_servers": self.bootstrap_servers, "topic": self.topic})

    def _create_service_account(self, component: str) -> str:
        """A ServiceAccount without an API token for one workload; returns its name."""
        name = self._name if component == "broker" else f"{self._name}-{component}"
        k8s.core.v1.ServiceAccount(
            f"{self._name}-{component}-serviceaccount",
            metadata={"name": name, "namespace": self._args.namespace,
                      "labels": kx.labels("kafka", component, self._name)},
            automount_service_account_token=False,
            opts=self._child,
        )
        return name

    def _create_services(self) -> k8s.core.v1.Service:
        a, name = self._args, self._name
        ports = [
            {"name": "client", "port": CLIENT_PORT, "targetPort": "client", "protocol": "TCP"},
            {"name": "controller", "port": CONTROLLER_PORT, "targetPort": "controller",
             "protocol": "TCP"},
        ]
        return k8s.core.v1.Service(
            f"{name}-headless",
            metadata={"name": f"{name}-headless", "namespace": a.namespace, "labels": self._labels},
            spec={
                "clusterIP": "None",
                # Peers must resolve each other before they are ready, or the quorum never forms.
                "publishNotReadyAddresses": True,
                "selector": self.selector,
                "ports": ports,
            },
            opts=self._child,
        )

    def _create_statefulset(self, headless: k8s.core.v1.Service) -> k8s.apps.v1.StatefulSet:
        a, name = self._args, self._name
        cluster_id = random.RandomId(f"{name}-cluster-id", byte_length=16, opts=self._child)
        env = pulumi.Output.all(a.namespace, cluster_id.b64_url).apply(
            lambda v: [*broker_env(name, v[0], a.nodes,
                                   a.heap or heap_for(a.resources.memory_limit)),
                       {"name": "CLUSTER_ID", "value": v[1]}])
        pvc_spec: dict[str, object] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": a.storage_size}},
        }
        if a.storage_class:
            pvc_spec["storageClassName"] = a.storage_class
        ready = kx.tcp_probe("client", initial_delay=10, period=10)
        return k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata={"name": name, "namespace": a.namespace, "labels": self._labels},
            spec={
                "serviceName": f"{name}-headless",
                "replicas": a.nodes,
                # Start all nodes at once: a controller quorum needs a majority before any is ready.
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": self.selector},
                "template": {
                    "metadata": {"labels": self._labels},
                    "spec": {
                        "serviceAccountName": name,
                        "automountServiceAccountToken": False,
                        "securityContext": kx.pod_security_context(a.uid),
                        "topologySpreadConstraints": kx.topology_spread(self.selector),
                        "terminationGracePeriodSeconds": 60,
                        "containers": [{
                            "name": "kafka",
                            "image": KAFKA_IMAGE,
                            "command": ["/bin/bash", "-c", NODE_START],
                            "env": env,
                            "ports": [{"name": "client", "containerPort": CLIENT_PORT},
                                      {"name": "controller", "containerPort": CONTROLLER_PORT}],
                            "readinessProbe": ready,
                            "livenessProbe": {**ready, "initialDelaySeconds": 60,
                                              "failureThreshold": 6},
                            "resources": a.resources.to_k8s(),
                            "securityContext": kx.container_security_context(a.uid),
                            "volumeMounts": [
                                {"name": "data", "mountPath": DATA_DIR},
                                # The entrypoint writes server.properties and log4j config here.
                                {"name": "config", "mountPath": "/opt/kafka/config"},
                                {"name": "logs", "mountPath": "/opt/kafka/logs"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }],
                        "volumes": [kx.empty_dir("config", "16Mi"),
                                    kx.empty_dir("logs", "512Mi"),
                                    kx.empty_dir("tmp", "256Mi")],
                    },
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data", "labels": self._labels},
                    "spec": pvc_spec,
                }],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[headless]),
        )

    def _create_pdb(self) -> None:
        if self._args.nodes < 2:
            return
        k8s.policy.v1.PodDisruptionBudget(
            f"{self._name}-pdb",
            metadata={"name": self._name, "namespace": self._args.namespace,
                      "labels": self._labels},
            # Losing more than one node at a time would break the quorum / ISR.
            spec={"maxUnavailable": 1, "selector": {"matchLabels": self.selector}},
            opts=self._child,
        )

    def _create_topic_job(self, statefulset: k8s.apps.v1.StatefulSet) -> pulumi.Output[str]:
        a, name = self._args, self._name
        labels = kx.labels("kafka", "topic-init", name)
        script = self.bootstrap_servers.apply(
            lambda b: topic_script(b, a.topic, a.partitions, a.nodes))
        job = k8s.batch.v1.Job(
            f"{name}-topic",
            metadata={"name": f"{name}-topic-{a.topic}", "namespace": a.namespace,
                      "labels": labels},
            spec={
                "backoffLimit": 6,
                "activeDeadlineSeconds": 900,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "serviceAccountName": self._create_service_account("topic-init"),
                        "automountServiceAccountToken": False,
                        "securityContext": kx.pod_security_context(a.uid),
                        "containers": [{
                            "name": "create-topic",
                            "image": KAFKA_IMAGE,
                            "command": ["/bin/bash", "-c", script],
                            "env": [{"name": "KAFKA_HEAP_OPTS", "value": "-Xmx256m"}],
                            "resources": kx.ResourceSpec(
                                cpu_request="100m", memory_request="384Mi",
                                cpu_limit="500m", memory_limit="384Mi").to_k8s(),
                            "securityContext": kx.container_security_context(a.uid),
                            "volumeMounts": [{"name": "logs", "mountPath": "/opt/kafka/logs"},
                                             {"name": "tmp", "mountPath": "/tmp"}],
                        }],
                        "volumes": [kx.empty_dir("logs"), kx.empty_dir("tmp")],
                    },
                },
            },
            # Jobs are immutable: a changed spec must delete the old Job before creating the new.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[statefulset],
                                        delete_before_replace=True),
        )
        return job.metadata.apply(lambda _: a.topic)
