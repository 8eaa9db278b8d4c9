"""template.yaml rendered as CloudFormation sees it: the SAM transform (aws-sam-translator, what
``sam deploy`` runs), then the physical names every resource gets in a given stack.

Two stacks of the template must be able to live in one account and region, so no named resource
(layer, secret, schedule, log group, alias, parameter, export...) may have a name that does not
depend on the stack. Resource types the test does not know fail it, so a new resource is classified
here (named by which property, or named by CloudFormation) before it can collide unnoticed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

#: Resource type -> the property that names it (absent: CloudFormation generates a unique name).
NAMED_BY = {
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::SSM::Parameter": "Name",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::CloudWatch::Alarm": "AlarmName",
}
#: Types without a physical name of their own (attached to another resource, or id-only).
UNNAMED = {"AWS::KMS::Key", "AWS::Lambda::Permission", "AWS::Lambda::EventInvokeConfig"}

ROTATION = re.compile(r"^Rotation")
EXPORTED = {
    "GenesysAuthLayerArn",
    "GenesysAuthLayerArnParameterName",
    "ExtensionLayerArn",
    "ExtensionLayerArnParameterName",
    "CredentialsSecretArn",
    "TokenTableName",
    "TokenTableArn",
    "TokenKeyArn",
    "ConsumerPolicyArn",
}


def _source() -> dict[str, Any]:
    from cfnlint.decode import decode_str

    template, problems = decode_str(TEMPLATE.read_text())
    assert not problems and template is not None, problems
    data: dict[str, Any] = json.loads(json.dumps(template))
    return data


def render(stack: str, **parameters: str) -> dict[str, Any]:
    """The CloudFormation template ``sam deploy`` would submit for ``stack`` (code already packaged)."""
    from samtranslator.translator.transform import transform

    template = _source()
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):  # what `sam package` does with a local folder
                props[key] = f"s3://artifacts/{props[key].strip('/')}.zip"

    class NoManagedPolicyLookups:
        """The template names AWS managed policies by ARN only, so SAM never needs IAM's list."""

        def load(self) -> dict[str, str]:
            return {}

    values = {"AWS::StackName": stack, **parameters}
    rendered: dict[str, Any] = transform(template, values, NoManagedPolicyLookups())  # type: ignore[arg-type]
    return rendered


class Resolver:
    """Evaluates the intrinsic functions of names the way CloudFormation would in one stack.

    A Ref/GetAtt of a resource becomes a stand-in that contains the stack name, as the physical
    ids CloudFormation generates do.
    """

    def __init__(self, template: dict[str, Any], stack: str, parameters: dict[str, str]) -> None:
        self.template = template
        self.stack = stack
        self.pseudo = {
            "AWS::StackName": stack,
            "AWS::Region": "eu-west-1",
            "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.parameters = {
            name: str(parameters.get(name, spec.get("Default", "")))
            for name, spec in template.get("Parameters", {}).items()
        }

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        assert name in self.template["Resources"], f"Ref to unknown {name}"
        return f"{self.stack}-{name}-GENERATED"

    def value(self, node: Any) -> str:
        if isinstance(node, str):
            return node
        assert isinstance(node, dict) and len(node) == 1, f"cannot evaluate {node!r}"
        ((function, argument),) = node.items()
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::GetAtt":
            resource, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return f"{self.ref(resource)}.{attribute}"
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            return re.sub(
                r"\$\{([^}!]+)\}",
                lambda m: (
                    self.value(variables[m.group(1)])
                    if m.group(1) in variables
                    else self.value({"Fn::GetAtt": m.group(1)} if "." in m.group(1) else {"Ref": m.group(1)})
                ),
                text,
            )
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(self.value(part) for part in parts)
        raise AssertionError(f"no evaluator for {function} in a name")

    def condition(self, name: str) -> bool:
        return self._truth(self.template["Conditions"][name])

    def _truth(self, node: Any) -> bool:
        ((function, argument),) = node.items()
        if function == "Fn::Equals":
            left, right = (self.value(side) for side in argument)
            return left == right
        if function == "Fn::Not":
            return not self._truth(argument[0])
        if function == "Condition":
            return self.condition(argument)
        raise AssertionError(f"no evaluator for {function} in a condition")


def physical_names(stack: str, **parameters: str) -> dict[str, str]:
    """(logical id or export) -> the name it takes in ``stack``, for everything with a chosen name."""
    template = render(stack, **parameters)
    resolve = Resolver(template, stack, parameters)
    names: dict[str, str] = {}
    unknown = []
    for logical, resource in template["Resources"].items():
        kind = resource["Type"]
        if kind in UNNAMED:
            continue
        if kind not in NAMED_BY:
            unknown.append(f"{logical} ({kind})")
            continue
        name = resource.get("Properties", {}).get(NAMED_BY[kind])
        if name is not None:
            # SAM suffixes layer versions' logical ids with a hash of their content.
            stable = re.sub(r"[0-9a-f]{10}$", "", logical) if kind == "AWS::Lambda::LayerVersion" else logical
            names[f"{kind} {stable}"] = resolve.value(name)
    assert not unknown, f"classify these resource types in NAMED_BY or UNNAMED: {unknown}"
    for output, spec in template.get("Outputs", {}).items():
        if "Export" in spec:
            names[f"Export {output}"] = resolve.value(spec["Export"]["Name"])
    return names


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    return render("genesys-dev", EnableRotation="true", AlarmTopicArn="arn:aws:sns:eu-west-1:123456789012:ops")


def test_two_stacks_share_no_physical_name() -> None:
    dev = physical_names("genesys-dev", EnableRotation="true")
    prod = physical_names("genesys-prod", EnableRotation="true")
    assert dev.keys() == prod.keys()
    # The schedule is the name that used to collide (SAM names it after the logical id).
    assert "AWS::Scheduler::Schedule RotationFunctionSchedule" in dev
    shared = set(dev.values()) & set(prod.values())
    assert not shared, f"names two stacks would both claim: {sorted(shared)}"
    for key, name in dev.items():
        assert "genesys-dev" in name, f"{key} is named {name!r}, which does not depend on the stack"


def test_schedule_name_fits_the_scheduler_limit_for_a_55_character_stack_name() -> None:
    stack = "s" * 55
    name = physical_names(stack, EnableRotation="true")["AWS::Scheduler::Schedule RotationFunctionSchedule"]
    assert len(name) <= 64  # EventBridge Scheduler's limit; the README states the stack-name bound


def test_outputs_for_other_stacks_are_exported_under_the_stack_name(rendered: dict[str, Any]) -> None:
    outputs = rendered["Outputs"]
    exported = {name for name, spec in outputs.items() if "Export" in spec}
    assert exported == EXPORTED
    for name in exported:
        assert outputs[name]["Export"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{name}"}
    assert outputs["TokenTableArn"]["Value"] == {"Fn::GetAtt": ["TokenTable", "Arn"]}
    assert outputs["TokenKeyArn"]["Value"] == {"Fn::GetAtt": ["TokenKey", "Arn"]}
    assert outputs["ConsumerPolicyArn"]["Value"] == {"Ref": "ConsumerPolicy"}


@pytest.mark.parametrize("enabled", ["true", "false"])
def test_rotation_resources_exist_only_when_enabled(enabled: str) -> None:
    template = render("genesys-dev", EnableRotation=enabled)
    resolve = Resolver(template, "genesys-dev", {"EnableRotation": enabled})

    def deployed(spec: dict[str, Any]) -> bool:
        return "Condition" not in spec or resolve.condition(spec["Condition"])

    resources = {name for name, spec in template["Resources"].items() if deployed(spec)}
    outputs = {name for name, spec in template["Outputs"].items() if deployed(spec)}
    rotation = {name for name in template["Resources"] if ROTATION.match(name)}
    # SAM's generated role, schedule, schedule role and invoke config carry the condition too.
    assert {"RotationFunctionRole", "RotationFunctionSchedule", "RotationFunctionScheduleRole"} <= rotation
    if enabled == "true":
        assert rotation <= resources
        assert {"RotationFunctionArn", "RotationAdminSecretArn", "RotationDeadLetterQueueUrl"} <= outputs
    else:
        assert not rotation & resources
        assert not {name for name in outputs if name.startswith("Rotation")}
        assert {"ExampleFunction", "TokenTable", "TokenKey", "ConsumerPolicy", "CredentialsSecret"} <= resources


def test_alarms_have_actions_only_when_a_topic_is_given(rendered: dict[str, Any]) -> None:
    alarms = {name: spec for name, spec in rendered["Resources"].items() if spec["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == {"RotationErrorsAlarm", "RotationDeadLetterAlarm"}
    for spec in alarms.values():
        assert spec["Properties"]["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }
    for topic, expected in (("", False), ("arn:aws:sns:eu-west-1:123456789012:ops", True)):
        assert Resolver(rendered, "s", {"AlarmTopicArn": topic}).condition("HasAlarmTopic") is expected


def test_every_function_logs_json_to_its_own_group_with_the_retention_parameter(rendered: dict[str, Any]) -> None:
    resources = rendered["Resources"]
    functions = {name: spec for name, spec in resources.items() if spec["Type"] == "AWS::Lambda::Function"}
    assert set(functions) == {"ExampleFunction", "RotationFunction", "SdkExampleFunction"}
    groups = set()
    for name, spec in functions.items():
        logging = spec["Properties"]["LoggingConfig"]
        assert logging["LogFormat"] == "JSON", name
        group = logging["LogGroup"]["Ref"]
        groups.add(group)
        assert resources[group]["Type"] == "AWS::Logs::LogGroup"
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert resources[group].get("Condition") == spec.get("Condition"), name
    assert len(groups) == len(functions)


def _statements(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in document["Statement"]}


def test_consumer_policy_holds_exactly_what_the_library_calls(rendered: dict[str, Any]) -> None:
    resources = rendered["Resources"]
    policy = _statements(resources["ConsumerPolicy"]["Properties"]["PolicyDocument"])
    assert set(policy) == {"ReadCredentialsSecret", "SharedTokenCache", "TokenEncryption"}
    secret, table, key = policy["ReadCredentialsSecret"], policy["SharedTokenCache"], policy["TokenEncryption"]
    assert secret["Action"] == "secretsmanager:GetSecretValue"
    assert secret["Resource"] == {"Ref": "CredentialsSecret"}
    assert sorted(table["Action"]) == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert table["Resource"] == {"Fn::GetAtt": ["TokenTable", "Arn"]}
    assert table["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["token#*"]}}
    assert sorted(key["Action"]) == ["kms:Decrypt", "kms:Encrypt"]
    assert key["Resource"] == {"Fn::GetAtt": ["TokenKey", "Arn"]}
    assert key["Condition"] == {"StringEquals": {"kms:EncryptionContext:genesys_auth": "token"}}
    for statement in policy.values():
        assert statement["Effect"] == "Allow"

    example = resources["ExampleFunction"]["Properties"]
    role = resources[example["Role"]["Fn::GetAtt"][0]]["Properties"]
    assert {"Ref": "ConsumerPolicy"} in role["ManagedPolicyArns"]
    assert "Policies" not in role  # nothing beyond the consumer policy (and basic logging)
    variables = example["Environment"]["Variables"]
    assert variables["GENESYS_TOKEN_KMS_KEY"] == {"Fn::GetAtt": ["TokenKey", "Arn"]}
    assert variables["GENESYS_TOKEN_TABLE"] == {"Ref": "TokenTable"}
    assert variables["GENESYS_SECRET_ID"] == {"Ref": "CredentialsSecret"}


def test_token_key_rotates_and_only_its_usage_statement_can_encrypt_or_decrypt(rendered: dict[str, Any]) -> None:
    key = rendered["Resources"]["TokenKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = _statements(key["KeyPolicy"])
    assert set(statements) == {"AccountAdministersTheKey", "ConsumersEncryptAndDecryptTokens"}
    data_plane = re.compile(r"^kms:(Encrypt|Decrypt|ReEncrypt.*|GenerateDataKey.*|\*)$")
    admin = statements["AccountAdministersTheKey"]["Action"]
    assert not [action for action in admin if data_plane.match(action)]
    use = statements["ConsumersEncryptAndDecryptTokens"]
    assert sorted(use["Action"]) == ["kms:Decrypt", "kms:Encrypt"]
    assert use["Condition"] == {"StringEquals": {"kms:EncryptionContext:genesys_auth": "token"}}
    for statement in statements.values():
        assert statement["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}


def test_every_checkov_skip_names_its_reason() -> None:
    skips = [
        (name, skip)
        for name, spec in _source()["Resources"].items()
        for skip in spec.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip.get("comment", "").split()) >= 8, f"{name}: justify skipping {skip['id']}"
