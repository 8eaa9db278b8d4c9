"""Tokens at rest: the shared item holds the token encrypted with KMS, never in the clear.

A token in the table is a bearer credential as strong as the client secret for its lifetime, so
whoever can read the table must not be able to use it unless they may also use the key. With
``GENESYS_TOKEN_KMS_KEY`` set, the token is written as KMS ciphertext (``Encrypt``, at most 4 KiB
of plaintext: a token is ~80 bytes) under an encryption context bound to the item's key and
version, and read back with ``Decrypt`` under the same context. So:

* a principal with ``dynamodb:GetItem`` alone sees ciphertext;
* a ciphertext copied into another item, or replayed into a newer version of the same item, does
  not decrypt (the context differs): a revoked token cannot be put back;
* cost: one ``Encrypt`` per mint and one ``Decrypt`` per cold container per token, both bounded by
  the deadline like every AWS call (:mod:`genesys_auth.aws`); decrypted tokens are kept in memory
  per (item, version, ciphertext), so a warm container never calls KMS.

The key policy and the consumer policy of ``template.yaml`` admit only callers that pass the
context entry ``genesys_auth=token``.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from .aws import AwsService, BoundClient

CONTEXT_TAG = {"genesys_auth": "token"}


class SealError(Exception):
    """KMS refused or could not be reached; the reason (an AWS error code) is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Sealer:
    def __init__(self, key_id: str, *, aws: AwsService | None = None) -> None:
        self.key_id = key_id
        self._aws = aws or AwsService("kms", cap=2.0, share=1 / 3, retries=False)
        self._client = BoundClient(self._aws)
        self._opened: dict[tuple[str, int, str], str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def context(item_key: str, version: int) -> dict[str, str]:
        return {**CONTEXT_TAG, "item": item_key, "version": str(version)}

    def seal(self, token: str, item_key: str, version: int) -> bytes:
        blob = self._call(
            "encrypt", KeyId=self.key_id, Plaintext=token.encode(), EncryptionContext=self.context(item_key, version)
        )
        ciphertext = blob.get("CiphertextBlob")
        if not isinstance(ciphertext, bytes):
            raise SealError("KMS Encrypt answered without a ciphertext")
        with self._lock:
            self._opened[(item_key, version, hashlib.sha256(ciphertext).hexdigest())] = token
        return ciphertext

    def open(self, ciphertext: bytes, item_key: str, version: int) -> str:
        memo = (item_key, version, hashlib.sha256(ciphertext).hexdigest())
        with self._lock:
            known = self._opened.get(memo)
        if known is not None:
            return known
        answer = self._call("decrypt", CiphertextBlob=ciphertext, EncryptionContext=self.context(item_key, version))
        plaintext = answer.get("Plaintext")
        if not isinstance(plaintext, bytes):
            raise SealError("KMS Decrypt answered without a plaintext")
        try:
            token = plaintext.decode("ascii")
        except UnicodeDecodeError:
            raise SealError("the decrypted token is not ASCII") from None
        with self._lock:
            self._opened[memo] = token
        return token

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        from .aws import error_code

        try:
            answer: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise SealError(f"KMS {operation}: {error_code(exc)}") from None
        return answer
