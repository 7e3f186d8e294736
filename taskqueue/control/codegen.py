"""Generate the gRPC Python code from ``protos/``: ``python -m taskqueue.control.codegen``.

The generated modules (``taskqueue/control/v1/*_pb2*.py``) are build
artefacts: git-ignored, never edited, produced again by this one command
(the install script runs it). It uses grpcio-tools' bundled ``protoc``, so
no system compiler is needed.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding the ``taskqueue`` package (the project root in a checkout)."""

PROTOS = PACKAGE_ROOT / "protos"
"""Where the .proto contracts live; package paths mirror Python packages."""


def generate(protos: Path = PROTOS, out: Path = PACKAGE_ROOT) -> list[Path]:
    """Compile every .proto under ``protos`` into ``out``; returns the files written."""
    from grpc_tools import protoc

    sources = sorted(protos.rglob("*.proto"))
    if not sources:
        raise SystemExit(f"no .proto files under {protos}")
    include = resources.files("grpc_tools") / "_proto"  # google/protobuf/*.proto
    args = [
        "grpc_tools.protoc",
        f"-I{protos}",
        f"-I{include}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--pyi_out={out}",
        *[str(s) for s in sources],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed (see the messages above)")
    written = []
    for source in sources:
        stem = source.relative_to(protos).with_suffix("")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            path = out / f"{stem}{suffix}"
            if path.exists():
                written.append(path)
        # Generated modules live in packages that may have no __init__ yet.
        for parent in (out / stem).parents:
            if parent == out or not str(parent).startswith(str(out)):
                break
            (parent / "__init__.py").touch(exist_ok=True)
    return written


def main() -> int:
    for path in generate():
        print(f"generated {path.relative_to(PACKAGE_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
