"""Getting binaries onto the machine: Debian packages, Maven, the Go toolchain.

Downloads and builds land in the stack's cache folder, so a reused machine
installs nothing twice.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from .service import StackError, say

_apt_updated = False


def run(
    argv: list[str],
    what: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
) -> str:
    """Run a build or install step; on failure raise a StackError with its output."""
    result = subprocess.run(
        argv,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stdout)
    if result.returncode != 0:
        tail = "\n".join("    " + line for line in result.stdout.splitlines()[-20:])
        raise StackError(f"{what} failed (exit {result.returncode}): {' '.join(argv)}\n{tail}")
    return result.stdout


def apt_install(*packages: str) -> None:
    """Install Debian packages that are missing (needs root, as on CI)."""
    global _apt_updated
    missing = [p for p in packages if not _dpkg_installed(p)]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise StackError(f"{', '.join(missing)} not installed and apt-get is not available")
    if os.geteuid() != 0:
        raise StackError(
            f"{', '.join(missing)} not installed; run as root, "
            f"or `sudo apt-get install {' '.join(missing)}` first"
        )
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        say("apt-get update ...")
        run(["apt-get", "update", "-q"], "apt-get update", env=env)
        _apt_updated = True
    say(f"apt-get install {' '.join(missing)} ...")
    run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        f"installing {', '.join(missing)}",
        env=env,
    )


def _dpkg_installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=False,
    )
    return result.stdout.strip() == "install ok installed"


def require_java(minimum: int = 17) -> str:
    java = shutil.which("java")
    if java is None:
        apt_install("openjdk-17-jre-headless")
        java = shutil.which("java")
    if java is None:
        raise StackError("Java is missing: Kafka needs Java 17 or newer on PATH")
    out = subprocess.run([java, "-version"], stderr=subprocess.PIPE, text=True, check=False).stderr
    try:
        version = out.split('"')[1]
        major = int(version.split(".")[0])
    except (IndexError, ValueError):
        raise StackError(f"could not read the Java version from `java -version`: {out!r}") from None
    if major < minimum:
        raise StackError(f"Kafka needs Java {minimum}+; `java -version` says {version}")
    return java


def maven_copy_dependencies(pom: Path, repository: Path, output: Path, what: str) -> None:
    """Resolve a pom's runtime dependencies from Maven Central into one folder."""
    if shutil.which("mvn") is None:
        apt_install("maven")
    say(f"resolving {what} with Maven (first time only) ...")
    staging = output.with_name(output.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(pom),
            f"-Dmaven.repo.local={repository}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ],
        f"resolving {what} with Maven",
    )
    staging.rename(output)


def go_build_module(
    module: str, version: str, package: str, binary: Path, cache: Path, prepare_source=None
) -> None:
    """Build a Go module's command at an exact version into `binary`.

    The module is downloaded from the Go module proxy and copied to a
    writable folder first, so `prepare_source` can add files the module's
    release process would normally generate.
    """
    go = shutil.which("go")
    if go is None:
        raise StackError(f"the Go toolchain is missing: it is needed to build {module}")
    env = {
        "GOMODCACHE": str(cache / "go" / "mod"),
        "GOCACHE": str(cache / "go" / "build"),
        "GOPATH": str(cache / "go" / "path"),
        "GOFLAGS": "-modcacherw",
    }
    say(f"building {module}@{version} with Go (first time only, about a minute) ...")
    info = json.loads(
        run(
            [go, "mod", "download", "-json", f"{module}@{version}"],
            f"downloading {module}@{version}",
            env=env,
        )
    )
    source = cache / "go" / "src" / f"{module.rsplit('/', 1)[-1]}-{version}"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(info["Dir"], source)
    for path in source.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    if prepare_source is not None:
        prepare_source(source)
    binary.parent.mkdir(parents=True, exist_ok=True)
    run(
        [go, "build", "-o", str(binary), package],
        f"building {module}@{version}",
        env=env,
        cwd=source,
    )
