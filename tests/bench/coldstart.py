"""Cold start on the Lambda target's Python (3.12) with the built layers: bytecode or not, extension or not.

Everything runs on python3.12 with the runtime's boto3 beside it (``.venv-py312``, like the Lambda runtime's own
site-packages) and the layers that ``extension/build_layers.py`` builds, unpacked read-only as on Lambda. "Without
bytecode" is the same layer with its ``__pycache__`` directories removed (and PYTHONDONTWRITEBYTECODE, so nothing is
cached between rounds): what every cold start paid before the layers shipped .pyc files.

* library: ``import genesys_auth``, then the first token from the shared table (boto3 import, client, one GetItem)
  and the first token by a mint (boto3, Powertools parameters, GetSecretValue, the token endpoint), each timed inside
  a fresh process from before its first import, against moto and the Genesys emulator on loopback. The ratio is
  the process's CPU time (its own work: wall times on 2 cores shared with other work vary by 2x between rounds).
* extension: start -> ready (registered) and -> end of its INIT, and VmRSS after INIT, against a bare http.server
  extension in the same sandbox, on the same Python.
* function: in the function's own process (its first invocation, the extension already INIT-ed), the first token
  through the extension (no boto3 import) against the in-process shared-table hit.
Medians of interleaved rounds. Skipped, saying why, when there is no python3.12 on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.bench.extension import _bare_layer, _free_port, _rss_kib
from tests.bench.lambda_python import LambdaPythonMissing, add_bytecode, lambda_python
from tests.harness.aws import MotoServer, app_env, create_credentials_secret, create_token_table, patched_environ
from tests.harness.genesys_emulator import GenesysEmulator
from tests.harness.lambda_sandbox import LambdaSandbox

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 5
#: The extension rounds: start-to-ready differs from the bare extension's by a few ms on a 2-core machine
#: where a single start varies by 100 ms, so they are more, and compared pairwise.
EXTENSION_ROUNDS = 9
EXTENSION = "genesys-token"

#: Run in a fresh process: times from before the first import of genesys_auth.
PROBE = textwrap.dedent(
    """
    import json, sys, time
    started, cpu = time.perf_counter(), time.process_time()
    import genesys_auth
    out = {"import_ms": (time.perf_counter() - started) * 1000, "import_cpu_ms": (time.process_time() - cpu) * 1000}
    if sys.argv[1] != "import":
        client = genesys_auth.GenesysClient.from_env()
        token = client.token_info()
        out.update(token_ms=(time.perf_counter() - started) * 1000, token_cpu_ms=(time.process_time() - cpu) * 1000,
                   source=client.provider.source.name,
                   mints=client.minter.mints, boto3="boto3" in sys.modules)
    print(json.dumps(out))
    """
)

#: What each part the extension loads adds, in load order, in one process (VmRSS and wall time). "new": every
#: client from its own boto3 Session, as genesys_auth.aws.make_client does today; "shared": one Session for both.
PARTS = textwrap.dedent(
    """
    import json, sys, time
    def rss():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
    if sys.argv[1] == "new":
        clients = [("sm", "sm = make_client('secretsmanager')"), ("ddb", "ddb = make_client('dynamodb')")]
    else:
        clients = [("sm", "session = boto3.session.Session(); sm = session.client('secretsmanager')"),
                   ("ddb", "ddb = session.client('dynamodb')")]
    steps = [
        ("server", "import http.server, json, logging, threading"),
        ("requests", "import requests"),
        ("genesys_auth", "import genesys_auth; from genesys_auth.aws import make_client"),
        ("boto3", "import boto3"),
        clients[0],
        ("powertools", "from aws_lambda_powertools.utilities.parameters import SecretsProvider"),
        clients[1],
    ]
    out, scope = {}, {}
    for name, code in steps:
        before, started = rss(), time.perf_counter()
        exec(code, scope)
        out[name] = [rss() - before, (time.perf_counter() - started) * 1000]
    print(json.dumps(out))
    """
)

#: The function of the "function" figures: its first invocation imports the library and takes a token.
FUNCTION = textwrap.dedent(
    """
    import sys, time

    def handler(event, context):
        started, cpu = time.perf_counter(), time.process_time()
        from genesys_auth import GenesysClient
        client = GenesysClient.from_env()
        token = client.token_info()
        return {"token_ms": (time.perf_counter() - started) * 1000, "cpu_ms": (time.process_time() - cpu) * 1000,
                "source": client.provider.source.name,
                "boto3": "boto3" in sys.modules, "mints": client.minter.mints}
    """
)


def _strip_bytecode(layer: Path, into: Path) -> Path:
    shutil.copytree(layer, into, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return into


def _read_only(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        item.chmod(item.stat().st_mode & ~0o222)


def _writable(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        if not item.is_symlink():
            item.chmod(item.stat().st_mode | 0o200)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _probe(python: Path, site: Path, mode: str, env: dict[str, str], script: str = PROBE) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), "-c", script, mode],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"probe {mode} failed: {done.stderr.strip().splitlines()[-1:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@contextmanager
def _sandbox(
    python: Path, layers: list[Path], task_root: Path, env: dict[str, str], bytecode: bool
) -> Iterator[LambdaSandbox]:
    box = LambdaSandbox(handler="app.handler", task_root=task_root, layers=layers, env=env, python=str(python))
    try:
        if bytecode:
            for layer in layers:
                add_bytecode(box.opt_dir, layer)
        _read_only(box.opt_dir)
        box.start()
        yield box
    finally:
        _writable(box.opt_dir)  # so that the sandbox can delete it (a non-root user could not)
        box.close()


def _extension_figures(box: LambdaSandbox, name: str) -> tuple[float, float, float]:
    """(ms start -> registered, ms start -> first next = end of its INIT, MiB VmRSS after INIT)."""
    started = box.first(f"extension_started:{name}")
    registered = box.first(f"extension_registered:{name}")
    first_next = box.first(f"extension_next:{name}")
    assert started is not None and registered is not None and first_next is not None
    return (registered - started) * 1000, (first_next - started) * 1000, _rss_kib(box.extension_pids[name]) / 1024


def run() -> list[tuple[str, str]]:
    try:
        python, version = lambda_python()
    except LambdaPythonMissing as exc:
        message = f"SKIPPED, no figures: {exc}"
        print(f"  {message}", file=sys.stderr)
        return [("cold start on the Lambda Python", message)]

    sys.path.insert(0, str(ROOT / "extension"))
    import build_layers

    sys.path.remove(str(ROOT / "extension"))
    rows: list[tuple[str, str]] = [("interpreter", f"Python {version} ({python}), {os.cpu_count()} cores")]
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as tmp:
        root = Path(tmp)
        built = build_layers.build(root / "layers", python=None)
        lib, ext = built["genesys-auth"], built["genesys-token"]
        lib_src = _strip_bytecode(lib, root / "src" / "genesys-auth")
        ext_src = _strip_bytecode(ext, root / "src" / "genesys-token")
        for layer in (lib, ext, lib_src, ext_src):
            _read_only(layer)
        moto = MotoServer().start()
        emulator = GenesysEmulator(api_rate_limit=10**9).start()
        try:
            rows += _library_rows(python, lib, lib_src, moto, emulator)
            rows += _extension_rows(python, lib, ext, ext_src, root=root, moto=moto, emulator=emulator)
            rows += _parts_rows(python, ext, moto)
        finally:
            emulator.stop()
            moto.stop()
            _writable(root)
    rows.append(
        ("rounds (medians)", f"{ROUNDS} per library figure, {EXTENSION_ROUNDS} per extension figure, interleaved")
    )
    return rows


def _library_rows(
    python: Path, lib: Path, lib_src: Path, moto: MotoServer, emulator: GenesysEmulator
) -> list[tuple[str, str]]:
    from genesys_auth import GenesysClient, Settings

    oauth = emulator.add_client()
    with patched_environ(moto.env()):
        secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
        table = create_token_table(moto)
        GenesysClient(
            Settings(secret_id=secret_id, login_url=emulator.url, api_url=emulator.url, token_table=table)
        ).token()  # the table now holds a fresh token: the table probes are hits
    mint_env = app_env(moto, emulator.url, secret_id, GENESYS_TOKEN_EXTENSION="off")
    table_env = {**mint_env, "GENESYS_TOKEN_TABLE": table}
    cases: dict[str, tuple[str, dict[str, str], str]] = {
        "import": ("import", mint_env, "import"),
        "table": ("token", table_env, "token"),
        "mint": ("token", mint_env, "token"),
    }
    samples: dict[tuple[str, bool], list[tuple[float, float]]] = {
        (case, pyc): [] for case in cases for pyc in (True, False)
    }
    for _ in range(ROUNDS):
        for case, (mode, env, key) in cases.items():
            for pyc in (True, False):
                out = _probe(python, (lib if pyc else lib_src) / "python", mode, env)
                if out.get("mints", 0) != (1 if case == "mint" else 0):
                    raise RuntimeError(f"{case} probe took the wrong path: {out}")
                samples[(case, pyc)].append((out[f"{key}_ms"], out[f"{key}_cpu_ms"]))
    labels = {
        "import": "import genesys_auth (layer, read-only)",
        "table": "first token from the shared table (import, boto3, GetItem)",
        "mint": "first token by a mint (import, boto3, Powertools, secret, mint)",
    }
    rows = []
    for case, label in labels.items():
        wall = [_median([sample[0] for sample in samples[(case, pyc)]]) for pyc in (True, False)]
        cpu = [_median([sample[1] for sample in samples[(case, pyc)]]) for pyc in (True, False)]
        rows.append(
            (
                label,
                f"{cpu[0]:.0f} ms CPU ({wall[0]:.0f} ms wall) with bytecode vs {cpu[1]:.0f} ms CPU ({wall[1]:.0f} ms "
                f"wall) without: {cpu[1] / cpu[0]:.2f}x faster",
            )
        )
    return rows


def _extension_rows(
    python: Path, lib: Path, ext: Path, ext_src: Path, *, root: Path, moto: MotoServer, emulator: GenesysEmulator
) -> list[tuple[str, str]]:
    from genesys_auth import GenesysClient, Settings

    bare_layer = _bare_layer(root)
    task_root = root / "fn"
    task_root.mkdir()
    (task_root / "app.py").write_text(FUNCTION)
    oauth = emulator.add_client()
    with patched_environ(moto.env()):
        secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
        table = create_token_table(moto)
        GenesysClient(
            Settings(secret_id=secret_id, login_url=emulator.url, api_url=emulator.url, token_table=table)
        ).token()
    base = {k: v for k, v in app_env(moto, emulator.url, secret_id).items() if k != "AWS_SESSION_TOKEN"}

    def ours(**extra: str) -> dict[str, str]:
        return {**base, "GENESYS_TOKEN_EXTENSION_PORT": str(_free_port()), **extra}

    figures: dict[str, list[tuple[float, float, float]]] = {"bare": [], "pyc": [], "src": [], "table": []}
    via_extension: list[tuple[float, float]] = []
    in_process: list[tuple[float, float]] = []
    for _ in range(EXTENSION_ROUNDS):
        with _sandbox(python, [bare_layer], task_root, {**base, "BARE_PORT": str(_free_port())}, False) as box:
            figures["bare"].append(_extension_figures(box, "bare"))
        with _sandbox(python, [ext], task_root, ours(), True) as box:  # mint during INIT, as extension.py
            figures["pyc"].append(_extension_figures(box, EXTENSION))
        with _sandbox(python, [ext_src], task_root, ours(), False) as box:
            figures["src"].append(_extension_figures(box, EXTENSION))
        env = ours(GENESYS_TOKEN_TABLE=table, GENESYS_TOKEN_EXTENSION="auto")
        with _sandbox(python, [lib, ext], task_root, env, True) as box:
            figures["table"].append(_extension_figures(box, EXTENSION))
            out = box.invoke({}).payload
            _check_function(out, "extension", False)
            via_extension.append((out["token_ms"], out["cpu_ms"]))
        env = {**base, "GENESYS_TOKEN_TABLE": table, "GENESYS_TOKEN_EXTENSION": "off"}
        with _sandbox(python, [lib], task_root, env, True) as box:
            out = box.invoke({}).payload
            _check_function(out, "dynamodb", True)
            in_process.append((out["token_ms"], out["cpu_ms"]))

    def med(name: str, i: int) -> float:
        return _median([sample[i] for sample in figures[name]])

    ready, bare_ready, ready_src = med("pyc", 0), med("bare", 0), med("src", 0)
    # Same-round pairs: a loaded moment slows both starts of its round alike.
    extra = _median([mine[0] - bare[0] for mine, bare in zip(figures["pyc"], figures["bare"], strict=True)])
    rss, bare_rss, rss_table = med("pyc", 2), med("bare", 2), med("table", 2)
    ext_ms, shared_ms = _median([w for w, _ in via_extension]), _median([w for w, _ in in_process])
    ext_cpu, shared_cpu = _median([c for _, c in via_extension]), _median([c for _, c in in_process])
    return [
        (
            "extension start -> ready (server bound, registered)",
            f"{ready:.0f} ms vs {bare_ready:.0f} ms bare (+{extra:.0f} ms, median of same-round pairs; goal <= +60); "
            f"{ready_src:.0f} ms without bytecode",
        ),
        (
            "extension start -> token in memory (end of its INIT)",
            f"{med('pyc', 1):.0f} ms with bytecode vs {med('src', 1):.0f} ms without (secret read + mint); "
            f"{med('table', 1):.0f} ms from the table; {med('bare', 1):.0f} ms bare",
        ),
        (
            "extension VmRSS after INIT",
            f"{rss:.1f} MiB vs {bare_rss:.1f} MiB bare (+{rss - bare_rss:.1f} MiB; goal <= +20) after a mint; "
            f"{rss_table:.1f} MiB (+{rss_table - bare_rss:.1f}) after a table hit; "
            f"{med('src', 2):.1f} MiB after a mint without bytecode",
        ),
        (
            "function's first token: via the ready extension vs in-process table hit",
            f"{ext_ms:.0f} ms vs {shared_ms:.0f} ms ({shared_ms / ext_ms:.1f}x faster through the extension; "
            f"function CPU {ext_cpu:.0f} vs {shared_cpu:.0f} ms, {shared_cpu / ext_cpu:.1f}x; no boto3 import in it)",
        ),
    ]


def _parts_rows(python: Path, ext: Path, moto: MotoServer) -> list[tuple[str, str]]:
    """Where the extension's memory goes (its own copy of the library, with bytecode)."""
    env = {**moto.env(), "GENESYS_TOKEN_EXTENSION": "off"}
    site = os.pathsep.join([str(ext / EXTENSION / "lib")])
    runs: dict[str, list[dict[str, list[float]]]] = {"new": [], "shared": []}
    for _ in range(ROUNDS):
        for mode, found in runs.items():
            found.append(_probe(python, Path(site), mode, env, PARTS))

    def part(mode: str, name: str) -> tuple[float, float]:
        return (_median([r[name][0] for r in runs[mode]]), _median([r[name][1] for r in runs[mode]]))

    labels = {
        "server": "http.server, json, logging (a bare extension has these)",
        "requests": "requests + urllib3",
        "genesys_auth": "genesys_auth",
        "boto3": "boto3 + botocore (import)",
        "sm": "Secrets Manager client (its own boto3 Session)",
        "powertools": "Powertools parameters (after boto3)",
    }
    cells = [f"{label} +{part('new', name)[0]:.1f} MiB/{part('new', name)[1]:.0f} ms" for name, label in labels.items()]
    new_ddb, shared_ddb = part("new", "ddb"), part("shared", "ddb")
    return [
        ("extension memory by part (VmRSS / time, in load order)", "; ".join(cells)),
        (
            "DynamoDB client besides it",
            f"+{new_ddb[0]:.1f} MiB/{new_ddb[1]:.0f} ms from a new boto3 Session (genesys_auth.aws today) vs "
            f"+{shared_ddb[0]:.1f} MiB/{shared_ddb[1]:.0f} ms from the Secrets Manager client's Session",
        ),
    ]


def _check_function(out: dict[str, Any], source: str, boto3: bool) -> None:
    """A figure is only reported for the path it names."""
    if not isinstance(out, dict) or out.get("source") != source or out.get("boto3") is not boto3 or out.get("mints"):
        raise RuntimeError(f"function took the wrong path (wanted {source}, boto3={boto3}): {out}")
