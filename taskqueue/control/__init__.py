"""The workers' control plane: inspect and steer them, ask them for progress.

- :mod:`.plane` starts it inside each worker (the Worker calls
  :func:`start_control`): an in-flight registry, a gRPC service
  (``protos/taskqueue/control/v1/worker.proto``) announced in the worker's
  heartbeat, and a RabbitMQ responder for progress requests;
- :mod:`.client` is the other side: find workers, call them with deadlines;
- :mod:`.cli` adds ``inspect`` and ``control`` to ``python -m taskqueue``.

The gRPC modules are generated: ``python -m taskqueue.control.codegen``.

Importing this package loads nothing else: the framework's core modules
use :mod:`.terminate` without pulling in the worker (``.plane`` imports it).
"""
