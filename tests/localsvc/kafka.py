"""A single-node Apache Kafka (KRaft broker+controller) run from Maven Central jars."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from tests.localsvc import processes
from tests.localsvc.lifecycle import LocalServer

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.xml"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
READY_LINE = "Kafka Server started"
# Tests restart the broker often on a busy 2-core machine: C1-only JIT and the serial GC use far less
# CPU while starting. Benchmarks that measure broker throughput can pass jvm_options=THROUGHPUT_JVM.
QUICK_START_JVM = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData")
THROUGHPUT_JVM = ("-XX:+UseG1GC",)


def kafka_version() -> str:
    """The Kafka version pinned in pom.xml."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if not match:
        raise ValueError(f"no <kafka.version> in {POM}")
    return match.group(1)


def cache_root() -> Path:
    """~/.cache/logagg (or $XDG_CACHE_HOME/logagg): outside the repo so clean clones reuse it."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "logagg"


def ensure_jars() -> Path:
    """Directory with Kafka's runtime classpath; resolved with Maven on first use, then cached."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:10]
    home = cache_root() / f"kafka-{kafka_version()}-{digest}"
    libs = home / "libs"
    if (home / ".complete").exists():
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent first runs download once
        if (home / ".complete").exists():
            return libs
        if shutil.which("mvn") is None:
            raise FileNotFoundError(
                "Maven (mvn) is required to fetch Kafka; run `make sysdeps`"
            )
        staging = Path(tempfile.mkdtemp(prefix="libs-", dir=home))
        cmd = [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(POM),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise RuntimeError(
                f"fetching Kafka jars failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)  # never leave a half-filled classpath behind
        (home / ".complete").touch()
    return libs


def formatted_template() -> Path:
    """Empty KRaft storage formatted once per jar cache (StorageTool costs a JVM start)."""
    libs = ensure_jars()
    template = libs.parent / "formatted-data"
    if (template / "meta.properties").exists():
        return template
    with open(libs.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (template / "meta.properties").exists():
            return template
        staging = Path(tempfile.mkdtemp(prefix="format-", dir=libs.parent))
        props = staging / "format.properties"
        props.write_text(
            "process.roles=broker,controller\nnode.id=1\n"
            "controller.quorum.voters=1@127.0.0.1:9093\ncontroller.listener.names=CONTROLLER\n"
            "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\n"
            f"log.dirs={staging / 'data'}\n"
        )
        # What `StorageTool random-uuid` prints (url-safe base64 of 16 random bytes).
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            [
                java_executable(),
                f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
                "-cp",
                f"{libs}/*",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(props),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise RuntimeError(
                f"kafka storage format failed:\n{result.stdout}\n{result.stderr}"
            )
        (staging / "data").rename(template)
        shutil.rmtree(staging)
    return template


def java_executable() -> str:
    """`java` from JAVA_HOME or $PATH (Java 17+)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise FileNotFoundError("java (17+) not found; run `make sysdeps`")
    return found


class KafkaBroker(LocalServer):
    """One KRaft node on 127.0.0.1; `stop()` then `start()` keeps its data directory and ports."""

    what = "Kafka"
    # Controlled shutdown; generous timeout: the first run also writes the class archive while exiting.
    stop_signal = signal.SIGTERM
    stop_timeout = 60

    def __init__(
        self,
        work_dir: Path | None = None,
        port: int | None = None,
        controller_port: int | None = None,
        *,
        persistent: bool = False,
        heap: str = "512m",
        jvm_options: Sequence[str] = QUICK_START_JVM,
    ) -> None:
        super().__init__(work_dir, temp_prefix="logagg-kafka-", persistent=persistent)
        self.port = port or processes.free_port()
        self.controller_port = controller_port or processes.free_port()
        while self.controller_port == self.port:
            self.controller_port = processes.free_port()
        self.heap = heap
        self.jvm_options = list(jvm_options)
        self._libs: Path | None = None

    @property
    def work_dir(self) -> Path:
        """Broker home: data, properties, pid file and log."""
        return self._home

    @property
    def bootstrap(self) -> str:
        """`host:port` for clients."""
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        """log.dirs (topic data and KRaft metadata)."""
        return self.work_dir / "data"

    @property
    def log_path(self) -> Path:
        """Broker stdout/stderr."""
        return self.work_dir / "kafka.log"

    @property
    def _pid_file(self) -> Path:
        return self.work_dir / "kafka.pid"

    @property
    def _properties(self) -> Path:
        return self.work_dir / "server.properties"

    def _classpath(self) -> str:
        if self._libs is None:
            self._libs = ensure_jars()
        return f"{self._libs}/*"

    def _write_properties(self) -> None:
        internal_topics_single_replica = {
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",  # 50 by default: slow first consumer-group join
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
        }
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # Static voters (not --standalone): then formatted storage records no controller
            # address, so one formatted template can be copied for every broker (no JVM per format).
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            **internal_topics_single_replica,
        }
        self._properties.write_text(
            "".join(f"{key}={value}\n" for key, value in props.items())
        )

    def prepare(self) -> None:
        """Fetch jars (cached), write server.properties, copy formatted storage on first use."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._write_properties()
        if (self.data_dir / "meta.properties").exists():
            return
        shutil.copytree(formatted_template(), self.data_dir)

    def launch(self) -> None:
        """Start the JVM (call from a long-lived thread, see processes.spawn)."""
        if self.is_running():
            return
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        cmd = [
            java_executable(),
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            *self.jvm_options,
            *self._class_data_sharing(),
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            self._classpath(),
            "kafka.Kafka",
            str(self._properties),
        ]
        proc = self._spawn(cmd)
        self._pid_file.write_text(str(proc.pid))

    def wait_ready(self, timeout: float = 90) -> None:
        """Block until the broker logged its start and a kafka-python admin client gets cluster metadata."""
        self._wait_until(self._logged_started, timeout)
        self._wait_until(self._answers, timeout)

    def _cds_archive(self) -> Path:
        # The archive is only valid for the same JVM, classpath and flags.
        key = "\0".join(
            [os.path.realpath(java_executable()), self._classpath(), *self.jvm_options]
        )
        return (
            ensure_jars().parent
            / f"cds-{hashlib.sha256(key.encode()).hexdigest()[:10]}.jsa"
        )

    @property
    def _cds_dump(self) -> Path:
        return self.work_dir / "classes.jsa.tmp"

    def _class_data_sharing(self) -> list[str]:
        """JVM flags for AppCDS: use the cached class archive, or record one on this run's exit.

        Loading Kafka's ~9k classes from an archive instead of jars more than halves broker
        start time on a busy machine (13 s → 6 s measured at load 50 on 2 cores).
        """
        archive = self._cds_archive()
        if archive.exists():
            return [f"-XX:SharedArchiveFile={archive}"]
        if (
            self.persistent
        ):  # another process stops it, so it could not vouch for a complete dump
            return []
        return [f"-XX:ArchiveClassesAtExit={self._cds_dump}"]

    def _keep_cds_dump(self, exit_code: int | None) -> None:
        """Promote the archive written at exit, if the JVM shut down by itself (not SIGKILLed)."""
        dump = self._cds_dump
        if not dump.exists():
            return
        if exit_code in (0, 143) and dump.stat().st_size > 0:  # 143: exited on SIGTERM
            dump.rename(
                self._cds_archive()
            )  # atomic: concurrent brokers never see half a file
        else:
            dump.unlink()

    def _stopped(self) -> None:
        """Keep the class archive the JVM wrote on exit; drop the pid file."""
        if self._proc is not None:
            self._keep_cds_dump(self._proc.returncode)
        with contextlib.suppress(FileNotFoundError):
            self._pid_file.unlink()

    def pid(self) -> int | None:
        """JVM pid, from our child or from kafka.pid (brokers started by another process)."""
        if self._proc is not None:
            return self._proc.pid if self._proc.poll() is None else None
        with contextlib.suppress(OSError, ValueError):
            pid = int(self._pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            # guard against a recycled pid
            if processes.pid_alive(pid) and str(self._properties).encode() in cmdline:
                return pid
        return None

    def _logged_started(self) -> bool:
        if self._proc is None:  # started by another process: rely on the client check
            return True
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            return READY_LINE.encode() in log.read()

    def _answers(self) -> bool:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap, request_timeout_ms=5000
            )
        except KafkaError:
            return False
        try:
            return bool(admin.describe_cluster().get("brokers"))
        except KafkaError:
            return False
        finally:
            admin.close()
