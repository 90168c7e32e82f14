"""Install the system packages the local servers need (Debian), only when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.localsvc.postgres import pg_bindir

# Debian packages, each with the check that tells it is installed. Redis is optional in
# production but the rate-limit tests run a real redis-server.
REDIS_PACKAGES = ["redis-server"]


def _java_major() -> int | None:
    java = shutil.which("java")
    if java is None:
        return None
    out = subprocess.run(
        [java, "-version"], capture_output=True, text=True, check=False
    ).stderr
    # e.g. 'openjdk version "17.0.15" 2025-04-15' or '"1.8.0_392"'
    try:
        version = out.split('"')[1]
    except IndexError:
        return None
    parts = version.split(".")
    return int(parts[1]) if parts[0] == "1" else int(parts[0])


def _postgres_installed() -> bool:
    try:
        pg_bindir()
    except FileNotFoundError:
        return False
    return True


def _missing_packages() -> list[str]:
    missing = []
    if not _postgres_installed():
        missing += ["postgresql", "postgresql-contrib"]
    if shutil.which("redis-server") is None:
        missing += REDIS_PACKAGES
    return missing


def ensure() -> None:
    """apt-get install PostgreSQL/Redis when absent; check Java 17+ and Maven. Fast when all present."""
    missing = _missing_packages()
    if missing:
        if shutil.which("apt-get") is None:
            sys.exit(f"{' '.join(missing)} missing and apt-get is not available: install them yourself")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        print(f"installing {' '.join(missing)} with apt-get", flush=True)
        subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-q", *missing], check=True, env=env)
        if _missing_packages():
            sys.exit(f"apt-get ran but {' '.join(_missing_packages())} still missing")
    problems = []
    major = _java_major()
    if major is None or major < 17:
        found = "not found" if major is None else f"found Java {major}"
        problems.append(
            f"Java 17+ is required to run Kafka ({found}): apt-get install openjdk-17-jre-headless"
        )
    if shutil.which("mvn") is None:
        problems.append(
            "Maven (mvn) is required to fetch the Kafka jars: apt-get install maven"
        )
    if problems:
        sys.exit("\n".join(problems))
