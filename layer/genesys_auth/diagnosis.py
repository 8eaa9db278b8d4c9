"""Why an AWS call or a login host said no, in words a user can act on (pure, no I/O but the probe).

* :func:`secret_problem` / :func:`table_problem`: (detail, fix) for a failed Secrets Manager or
  DynamoDB call, IAM errors named as IAM errors ("the role lacks secretsmanager:GetSecretValue on ...").
* :func:`probe_login`: one raw client-credentials request whose answer tells an unknown client
  ("client not found") from a known one that was refused (wrong secret, disabled client).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import requests

from .aws import error_code
from .credentials import Credentials
from .deadline import Deadline


def aws_error_code(exc: BaseException) -> tuple[str, str]:
    """(code, AWS's message) of a botocore exception; for transport errors the class name and "".

    AWS's messages name principals, actions and resources, never a secret value."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    message = str(error.get("Message", "")) if isinstance(error, dict) else ""
    if message.startswith("<"):
        message = ""  # an unparsed XML body: nothing a reader can use
    code = error_code(exc)
    if code == "403":
        # An answer botocore could not parse for a code (a body in the wrong protocol) still says
        # what HTTP 403 says on every AWS API: the caller is not authorized.
        code = "AccessDenied"
    return code, message[:300]


DENIED = ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "UnrecognizedClientException")
_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError")
_UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError")


def secret_problem(code: str, message: str, secret_id: str) -> tuple[str, str]:
    """(detail, fix) for a failed GetSecretValue; IAM errors are named as IAM errors."""
    aws = f" (AWS: {message})" if message else ""
    if code == "DeadlineReached":
        return (f"no time left to read {secret_id}", "give the doctor more time (--timeout, or the function's timeout)")
    if code in DENIED:
        return (
            f"the role lacks secretsmanager:GetSecretValue on {secret_id} ({code}){aws}",
            "grant secretsmanager:GetSecretValue on this secret to the function's role (the template's "
            "AWSSecretsManagerGetSecretValuePolicy does); locally, use AWS credentials that may read it",
        )
    if code == "ResourceNotFoundException":
        return (
            f"the secret {secret_id} does not exist in this AWS region, or has no AWSCURRENT version ({code})",
            "check GENESYS_SECRET_ID and AWS_REGION; create the secret and put the credentials JSON in it",
        )
    if code in ("DecryptionFailure", "KMSAccessDeniedException", "KMSDisabledException"):
        return (
            f"the role cannot decrypt {secret_id}: it lacks kms:Decrypt on the secret's KMS key ({code})",
            "grant kms:Decrypt on the secret's customer-managed key to the role (and allow it in the key policy)",
        )
    if code == "InvalidRequestException":
        return (
            f"Secrets Manager refused to read {secret_id} ({code}){aws}",
            "a secret scheduled for deletion cannot be read: restore it (aws secretsmanager restore-secret) "
            "or point GENESYS_SECRET_ID at a live secret",
        )
    if code in _NO_CREDENTIALS:
        return (
            f"no AWS credentials to read {secret_id} ({code})",
            "locally, configure a profile or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; in Lambda the role provides them",
        )
    if code in _UNREACHABLE:
        return (
            f"cannot reach Secrets Manager ({code})",
            "a function in a VPC needs a Secrets Manager VPC endpoint or a NAT gateway; check AWS_ENDPOINT_URL locally",
        )
    return (f"reading {secret_id} failed ({code}){aws}", "retry; if it persists, check the AWS Health dashboard")


def table_problem(code: str, message: str, table: str, action: str) -> tuple[str, str]:
    aws = f" (AWS: {message})" if message else ""
    if code == "DeadlineReached":
        return (f"no time left for DynamoDB {action} on {table}", "give the doctor more time")
    if code in DENIED:
        return (
            f"the role lacks dynamodb:{action} on table {table} ({code}){aws}",
            "grant dynamodb:GetItem and dynamodb:UpdateItem on the table (items whose key starts with token#) "
            "to the role; meanwhile every container mints its own token",
        )
    if code == "ResourceNotFoundException":
        return (
            f"the table {table} does not exist in this AWS region ({code})",
            "create it (the template's TokenTable: partition key pk of type S, TTL on ttl) or fix "
            "GENESYS_TOKEN_TABLE; meanwhile every container mints its own token (the cache never fails a call)",
        )
    if code in _NO_CREDENTIALS:
        return (f"no AWS credentials to read table {table} ({code})", "configure AWS credentials")
    if code in _UNREACHABLE:
        return (
            f"cannot reach DynamoDB ({code})",
            "a function in a VPC needs a DynamoDB gateway endpoint or a NAT gateway",
        )
    return (f"DynamoDB {action} on {table} failed ({code}){aws}", "retry; throttling clears by itself")


@dataclass(frozen=True)
class LoginProbe:
    """One raw answer of a token endpoint: how the doctor tells "unknown client" from "refused"."""

    status: int | None
    error: str | None = None
    description: str | None = None
    failure: str | None = None
    access_token: str | None = field(default=None, repr=False)

    @property
    def accepted(self) -> bool:
        return self.status == 200 and bool(self.access_token)

    @property
    def knows_client(self) -> bool:
        """The host recognised the client id (accepted it, or refused the secret or its state)."""
        if self.accepted:
            return True
        return self.error == "invalid_client" and (self.description or "").lower() != "client not found"


def probe_login(session: requests.Session, login_url: str, creds: Credentials, deadline: Deadline) -> LoginProbe:
    """One client-credentials request, no retry: the answer itself is what is diagnosed."""
    try:
        response = session.post(
            login_url.rstrip("/") + "/oauth/token",
            auth=(creds.client_id, creds.client_secret),
            data={"grant_type": "client_credentials"},
            headers={"Accept": "application/json"},
            timeout=(deadline.timeout(3.05), deadline.timeout(5.0)),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return LoginProbe(status=None, failure=type(exc).__name__)
    with response:
        try:
            body = response.json()
        except ValueError:
            body = None
    if not isinstance(body, dict):
        body = {}
    token = body.get("access_token")
    return LoginProbe(
        status=response.status_code,
        error=str(body["error"]) if body.get("error") else None,
        description=str(body.get("error_description") or body.get("description") or "") or None,
        access_token=token if isinstance(token, str) and token else None,
    )
