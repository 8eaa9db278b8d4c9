"""``make invoke FN=<logical id> EVENT=events/<file>.json``: one function of template.yaml, locally, without Docker.

Reads the function from ``template.yaml`` (Globals merged in), starts moto and the Genesys emulator on loopback,
creates what the function's environment refers to (``!Ref`` to a secret -> a credentials secret for a new
emulator OAuth client; ``!Ref`` to a DynamoDB table -> that table; ``!Ref`` to a parameter -> its default), then
runs the function with its layers (the directories ``make build`` produced) in :class:`LambdaSandbox`, prints
the result and every process's log (runtime and extensions), and shuts the sandbox down.

    python -m tests.harness.invoke ExampleFunction events/example.json [--layers build/layers]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tests.harness.aws import MotoServer, create_credentials_secret, patched_environ
from tests.harness.genesys_emulator import GenesysEmulator
from tests.harness.lambda_sandbox import LambdaSandbox

ROOT = Path(__file__).resolve().parents[2]
#: ContentUri of a layer in template.yaml -> the directory extension/build_layers.py builds for it.
BUILT_LAYERS = {"layer": "genesys-auth", "extension": "genesys-token", "sdk": "genesys-sdk"}


def load_template(path: Path) -> dict[str, Any]:
    """template.yaml as plain data; short-form tags (!Ref, !Sub...) become {"Ref": ...} etc."""
    from cfnlint.decode import decode_str

    template, problems = decode_str(path.read_text())
    if problems or template is None:
        raise SystemExit(f"cannot parse {path}: {problems}")
    return json.loads(json.dumps(template))


class Wiring:
    """Creates the AWS and Genesys things the function's environment refers to."""

    def __init__(self, template: dict[str, Any], moto: MotoServer, emulator: GenesysEmulator) -> None:
        self.template = template
        self.moto = moto
        self.emulator = emulator
        self.made: dict[str, str] = {}
        self.notes: list[str] = []

    def resolve(self, name: str, value: Any) -> str | None:
        if isinstance(value, (str, int, float)):
            return str(value)
        if isinstance(value, dict) and set(value) == {"Ref"}:
            return self._ref(name, str(value["Ref"]))
        self.notes.append(f"{name}: {json.dumps(value)} is not emulated; left unset")
        return None

    def _ref(self, name: str, ref: str) -> str | None:
        if ref in self.made:
            return self.made[ref]
        parameter = self.template.get("Parameters", {}).get(ref)
        if parameter is not None:
            return None if parameter.get("Default") is None else str(parameter["Default"])
        resource = self.template.get("Resources", {}).get(ref, {})
        kind = resource.get("Type")
        if kind == "AWS::SecretsManager::Secret":
            oauth = self.emulator.add_client()
            self.made[ref] = create_credentials_secret(self.moto, oauth.client_id, oauth.secret)
        elif kind == "AWS::DynamoDB::Table":
            self.made[ref] = self._table(ref, resource.get("Properties", {}))
        else:
            self.notes.append(f"{name}: !Ref {ref} ({kind}) is not emulated; left unset")
            return None
        return self.made[ref]

    def _table(self, ref: str, props: dict[str, Any]) -> str:
        ddb = self.moto.client("dynamodb")
        name = f"{ref.lower()}-local"
        ddb.create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            spec = {"Enabled": True, "AttributeName": ttl["AttributeName"]}
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)
        return name


def function_props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    resource = template.get("Resources", {}).get(logical_id)
    if resource is None or resource.get("Type") != "AWS::Serverless::Function":
        functions = [
            k for k, v in template.get("Resources", {}).items() if v.get("Type") == "AWS::Serverless::Function"
        ]
        raise SystemExit(f"{logical_id} is not a function of the template; functions: {', '.join(functions)}")
    props: dict[str, Any] = dict(template.get("Globals", {}).get("Function", {}))
    props.update(resource.get("Properties", {}))
    return props


def layer_dirs(template: dict[str, Any], props: dict[str, Any], built: Path) -> list[Path]:
    dirs = []
    for ref in props.get("Layers", []):
        if not (isinstance(ref, dict) and "Ref" in ref):
            raise SystemExit(f"layer {ref!r} is not a !Ref to a layer of this template")
        content = template["Resources"][ref["Ref"]]["Properties"]["ContentUri"]
        name = BUILT_LAYERS.get(Path(content).name)
        path = built / name if name else ROOT / content
        if not path.is_dir():
            raise SystemExit(f"layer {ref['Ref']}: {path} does not exist; run `make build` first")
        dirs.append(path)
    return dirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Invoke a template.yaml function in the local Lambda sandbox.")
    parser.add_argument("function", help="logical id, e.g. ExampleFunction")
    parser.add_argument("event", type=Path, help="JSON event file, e.g. events/example.json")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--layers", type=Path, default=ROOT / "build" / "layers", help="output of `make build`")
    args = parser.parse_args(argv)

    template = load_template(args.template)
    props = function_props(template, args.function)
    layers = layer_dirs(template, props, args.layers)
    event = json.loads(args.event.read_text())

    moto = MotoServer().start()
    emulator = GenesysEmulator().start()
    try:
        with patched_environ(moto.env()):
            wiring = Wiring(template, moto, emulator)
            env: dict[str, str] = {}
            for name, value in props.get("Environment", {}).get("Variables", {}).items():
                resolved = wiring.resolve(name, value)
                if resolved is not None:
                    env[name] = resolved
            env.update(moto.env())
            env.pop("AWS_SESSION_TOKEN")  # the sandbox makes one per environment, as Lambda does
            env.update(GENESYS_LOGIN_URL=emulator.url, GENESYS_API_URL=emulator.url)
            for note in wiring.notes:
                print(f"note: {note}")
            sandbox = LambdaSandbox(
                handler=props["Handler"],
                task_root=ROOT / props["CodeUri"],
                layers=layers,
                env=env,
                function_name=args.function,
                memory_mb=int(props.get("MemorySize", 128)),
                timeout_s=float(props.get("Timeout", 3)),
            )
            try:
                result = sandbox.invoke(event)
                shutdown = sandbox.shutdown()
            finally:
                logs = sandbox.logs()
                sandbox.close()
    finally:
        emulator.stop()
        moto.stop()

    for name, text in logs.items():
        print(f"--- {name} log ---\n{text.rstrip()}")
    print(f"--- {args.function} ({len(layers)} layers, init {sandbox.init_duration_ms or 0:.0f} ms) ---")
    print(f"duration {result.duration_ms:.1f} ms, post-runtime extensions {result.post_runtime_extensions_ms:.1f} ms")
    print(f"shutdown {shutdown.reason}: {shutdown.elapsed_ms:.0f} ms, exit codes {shutdown.exit_codes}")
    print(f"token mints at the emulator: {emulator.mints()}")
    print(json.dumps(result.error if result.error else result.payload, indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
