"""``make invoke FN=<logical id> EVENT=events/<file>.json``: one function of template.yaml, locally, without Docker.

Reads the function from ``template.yaml`` (Globals merged in), starts moto and the Genesys emulator on loopback,
and creates what the function's environment refers to, as a stack named ``genesys`` (``--stack-name``) would
have it:

* ``!Ref`` to a secret: the secret under the template's ``Name`` (``genesys/genesys-credentials``). A secret
  named by ``GENESYS_ADMIN_SECRET_ID`` holds an admin OAuth client with ``oauth:client:edit``; any other holds
  app credentials for an active emulator client and names a second one, its standby, in
  ``alternate_client_id`` (what the rotation swaps to; other functions ignore it);
* ``!Ref`` to a DynamoDB table: that table; ``!Ref`` to a parameter: its default.

The event's ``SecretId`` / ``secretId`` (a name or an ARN) is matched by secret name to the secrets this run
made and replaced by the local one (a local ARN has its own random suffix). For a Secrets Manager rotation
step (``{"Step": "testSecret", ...}``) the steps before it run first with the same ``ClientRequestToken``, as
Secrets Manager runs them in order, so each step event works on its own.

The function runs with its layers (the directories ``make build`` produced) in :class:`LambdaSandbox`; then
this prints every process's log, the result, and the secrets as they are after the run (which client each
stage names; never a value). The output is checked for every secret and token the emulator issued: if one
appears, it is redacted and the exit code is 3.

    python -m tests.harness.invoke ExampleFunction events/example.json [--layers build/layers]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genesys_auth.credentials import secret_name
from tests.harness.aws import MotoServer, create_credentials_secret, patched_environ
from tests.harness.genesys_emulator import GenesysEmulator
from tests.harness.lambda_sandbox import LambdaSandbox, SandboxInitError

ROOT = Path(__file__).resolve().parents[2]
#: ContentUri of a layer in template.yaml -> the directory extension/build_layers.py builds for it.
BUILT_LAYERS = {"layer": "genesys-auth", "extension": "genesys-token", "sdk": "genesys-sdk"}
STACK_NAME = "genesys"
#: Environment variables that name the secret of an admin client (the rotation's), not app credentials.
ADMIN_SECRET_VARIABLES = {"GENESYS_ADMIN_SECRET_ID"}
ADMIN_PERMISSIONS = ("oauth:client:edit",)
#: Secrets Manager's rotation steps, in the order it sends them.
ROTATION_STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
STAGES = ("AWSCURRENT", "AWSPENDING", "AWSPREVIOUS")


def load_template(path: Path) -> dict[str, Any]:
    """template.yaml as plain data; short-form tags (!Ref, !Sub...) become {"Ref": ...} etc."""
    from cfnlint.decode import decode_str

    template, problems = decode_str(path.read_text())
    if problems or template is None:
        raise SystemExit(f"cannot parse {path}: {problems}")
    return json.loads(json.dumps(template))


@dataclass
class LocalSecret:
    name: str
    arn: str
    #: client id -> its role in this run ("active", "standby", "admin").
    roles: dict[str, str]


class Wiring:
    """Creates the AWS and Genesys things the function's environment refers to."""

    def __init__(
        self, template: dict[str, Any], moto: MotoServer, emulator: GenesysEmulator, *, stack_name: str = STACK_NAME
    ) -> None:
        self.template = template
        self.moto = moto
        self.emulator = emulator
        self.stack_name = stack_name
        self.made: dict[str, str] = {}
        self.secrets: list[LocalSecret] = []
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
            self.made[ref] = self._secret(name, ref, resource.get("Properties", {}))
        elif kind == "AWS::DynamoDB::Table":
            self.made[ref] = self._table(ref, resource.get("Properties", {}))
        else:
            self.notes.append(f"{name}: !Ref {ref} ({kind}) is not emulated; left unset")
            return None
        return self.made[ref]

    def _resource_name(self, ref: str, props: dict[str, Any]) -> str:
        """The template's ``Name`` with the pseudo parameters of this local stack, else one from the logical id."""
        name = props.get("Name")
        if isinstance(name, dict) and set(name) == {"Fn::Sub"} and isinstance(name["Fn::Sub"], str):
            name = name["Fn::Sub"].replace("${AWS::StackName}", self.stack_name)
        if isinstance(name, str) and "${" not in name:
            return name
        return f"{self.stack_name}/{ref}"

    def _secret(self, variable: str, ref: str, props: dict[str, Any]) -> str:
        name = self._resource_name(ref, props)
        if variable in ADMIN_SECRET_VARIABLES:
            admin = self.emulator.add_client(name=f"{ref}-admin", permissions=ADMIN_PERMISSIONS)
            create_credentials_secret(self.moto, admin.client_id, admin.secret, name=name)
            roles = {admin.client_id: "admin"}
        else:
            active = self.emulator.add_client(name=f"{ref}-active")
            standby = self.emulator.add_client(name=f"{ref}-standby")
            extra = {"alternate_client_id": standby.client_id}
            create_credentials_secret(self.moto, active.client_id, active.secret, name=name, extra=extra)
            roles = {active.client_id: "active", standby.client_id: "standby"}
        arn = str(self.moto.client("secretsmanager").describe_secret(SecretId=name)["ARN"])
        self.secrets.append(LocalSecret(name=name, arn=arn, roles=roles))
        return name

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

    def localize(self, event: Any) -> Any:
        """The event with the secret it names replaced by the local secret of the same name."""
        if not isinstance(event, dict):
            return event
        event = dict(event)
        for key in ("SecretId", "secretId"):
            value = event.get(key)
            if not isinstance(value, str) or not value:
                continue
            local = next((s for s in self.secrets if s.name == secret_name(value)), None)
            if local is None:
                made = ", ".join(s.name for s in self.secrets) or "none"
                self.notes.append(f"event {key} {value} names no secret of this run (made: {made})")
                continue
            event[key] = local.arn if value.startswith("arn:") else local.name
            if event[key] != value:
                self.notes.append(f"event {key}: {value} -> {event[key]}")
        return event

    def state(self) -> list[str]:
        """Which client each stage of the secrets this run made names now (never a value)."""
        sm = self.moto.client("secretsmanager")
        lines = []
        for secret in self.secrets:
            versions = sm.describe_secret(SecretId=secret.name).get("VersionIdsToStages", {})
            staged = []
            for stage in STAGES:
                if any(stage in labels for labels in versions.values()):
                    text = sm.get_secret_value(SecretId=secret.name, VersionStage=stage)["SecretString"]
                    client = json.loads(text).get("client_id")
                    staged.append(f"{stage} client {client} ({secret.roles.get(client, 'unknown')})")
            lines.append(f"secret {secret.name}: {', '.join(staged)}; {len(versions)} version(s)")
        return lines


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


def steps_before(event: Any) -> list[dict[str, Any]]:
    """The rotation steps Secrets Manager would have sent before this step event, same version."""
    if not isinstance(event, dict) or event.get("Step") not in ROTATION_STEPS:
        return []
    earlier = ROTATION_STEPS[: ROTATION_STEPS.index(event["Step"])]
    return [{**event, "Step": step} for step in earlier]


def redact(text: str, sensitive: list[str]) -> tuple[str, int]:
    """``text`` with every sensitive value replaced, and how many distinct values were found."""
    found = [value for value in sensitive if len(value) >= 16 and value in text]
    for value in found:
        text = text.replace(value, "<redacted>")
    return text, len(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Invoke a template.yaml function in the local Lambda sandbox.")
    parser.add_argument("function", help="logical id, e.g. ExampleFunction")
    parser.add_argument("event", type=Path, help="JSON event file, e.g. events/example.json")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--layers", type=Path, default=ROOT / "build" / "layers", help="output of `make build`")
    parser.add_argument("--stack-name", default=STACK_NAME, help="stack name the template's resource names use")
    args = parser.parse_args(argv)

    template = load_template(args.template)
    props = function_props(template, args.function)
    layers = layer_dirs(template, props, args.layers)
    event = json.loads(args.event.read_text())

    out: list[str] = []
    ok = False
    moto = MotoServer().start()
    emulator = GenesysEmulator().start()
    try:
        with patched_environ(moto.env()):
            wiring = Wiring(template, moto, emulator, stack_name=args.stack_name)
            env: dict[str, str] = {}
            for name, value in props.get("Environment", {}).get("Variables", {}).items():
                resolved = wiring.resolve(name, value)
                if resolved is not None:
                    env[name] = resolved
            env.update(moto.env())
            env.pop("AWS_SESSION_TOKEN")  # the sandbox makes one per environment, as Lambda does
            env.update(GENESYS_LOGIN_URL=emulator.url, GENESYS_API_URL=emulator.url)
            event = wiring.localize(event)
            out += [f"note: {note}" for note in wiring.notes]
            sandbox = LambdaSandbox(
                handler=props["Handler"],
                task_root=ROOT / props["CodeUri"],
                layers=layers,
                env=env,
                function_name=args.function,
                memory_mb=int(props.get("MemorySize", 128)),
                timeout_s=float(props.get("Timeout", 3)),
            )
            result = None
            try:
                try:
                    for earlier in steps_before(event):
                        before = sandbox.invoke(earlier)
                        out.append(f"before: {earlier['Step']} -> {json.dumps(before.error or before.payload)}")
                        if not before.ok:
                            break
                    else:
                        result = sandbox.invoke(event)
                except SandboxInitError as exc:
                    out.append(f"error: the function did not start: {exc.reason}")
                shutdown = sandbox.shutdown()
            finally:
                logs = sandbox.logs()
                sandbox.close()
            state = wiring.state()
    finally:
        emulator.stop()
        moto.stop()

    for name, text in logs.items():
        out.append(f"--- {name} log ---\n{text.rstrip()}")
    out.append(f"--- {args.function} ({len(layers)} layers, init {sandbox.init_duration_ms or 0:.0f} ms) ---")
    if result is not None:
        out.append(
            f"duration {result.duration_ms:.1f} ms, post-runtime extensions {result.post_runtime_extensions_ms:.1f} ms"
        )
    out.append(f"shutdown {shutdown.reason}: {shutdown.elapsed_ms:.0f} ms, exit codes {shutdown.exit_codes}")
    out.append(f"token mints at the emulator: {emulator.mints()}")
    out.append("--- local secrets after the run (clients by their role when this run set them up) ---")
    out += state
    if result is not None:
        out.append(json.dumps(result.error if result.error else result.payload, indent=2))
        ok = result.ok
    text, leaked = redact("\n".join(out), emulator.sensitive_values())
    print(text)
    if leaked:
        print(f"error: {leaked} secret(s) or token(s) issued by the emulator appeared in this output (redacted above)")
        return 3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
