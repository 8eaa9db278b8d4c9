"""A Docker-free local AWS Lambda execution environment for tests.

One loopback HTTP server (random port) emulates the Lambda Runtime API (2018-06-01) and the Extensions API
(2020-01-01).  Every file in ``<opt>/extensions/`` is started as a real OS process, like Lambda does, and the
function runs under AWS's runtime interface client (``python -m awslambdaric <handler>``, cwd = task root).

Lifecycle emulated (tests/harness/README.md says which Lambda facts it follows):

* INIT: all extensions start in parallel and must ``POST /extension/register``; the runtime process is started
  only after every extension has registered; init completes when the runtime and every extension have called
  their ``next``.  Bounded by ``init_timeout_s``.
* INVOKE: the event goes to the runtime and an INVOKE event to every extension registered for it, at the same
  time.  The invoke phase ends when the runtime has answered and has called ``next`` again and every live
  extension has called ``next``.  Then the whole environment is frozen (SIGSTOP on every process group) until
  the next invoke or shutdown thaws it (SIGCONT).
* A failed invoke (timeout, runtime crash) resets the environment like Lambda: the runtime is killed, the
  extensions get SHUTDOWN with reason TIMEOUT/FAILURE, and the next ``invoke()`` re-initialises everything.
* SHUTDOWN: SIGTERM to the runtime, a SHUTDOWN event to extensions registered for it, and SIGKILL for whatever is
  still running after ``shutdown_budget_s``.

All synchronisation inside the server uses one ``threading.Condition``; the only waits on processes are
``Event.wait(timeout)`` on a per-process watcher thread and a blocking ``waitid(WSTOPPED)`` to confirm a freeze.
Linux only (process groups, ``/proc``, ``waitid``).

Modules, one concern each:

* ``model``: constants, ``SandboxError``/``SandboxInitError``, ``InvokeResult``/``ShutdownResult``
* ``state``: records of one environment (generation, runtime, extensions, invocations)
* ``layers``: layers merged into /opt, extension discovery, log files, the processes' environments
* ``processes``: child processes, reaping, freezing and thawing
* ``wire``: HTTP plumbing; ``server``: the loopback server and request routing
* ``runtime_api`` and ``extensions_api``: the two emulated APIs
* ``init_phase``, ``invoke_phase``, ``shutdown_phase``: the lifecycle
* ``sandbox``: ``LambdaSandbox``, the facade
"""

from __future__ import annotations

from .model import HIDDEN_FROM_EXTENSIONS, InvokeResult, SandboxError, SandboxInitError, ShutdownResult
from .processes import process_state
from .sandbox import LambdaSandbox

__all__ = [
    "HIDDEN_FROM_EXTENSIONS",
    "InvokeResult",
    "LambdaSandbox",
    "SandboxError",
    "SandboxInitError",
    "ShutdownResult",
    "process_state",
]
