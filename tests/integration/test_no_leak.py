"""The no-leak rule, checked over everything the suite produced.

conftest moves this test to the very end of the session. By then the leak watch holds every log
record of this process (every logger, DEBUG and up), every GenesysAuthError text and repr, and the
output of child processes that tests fed to it; the emulators hold every secret and token they
ever issued. None of those values may appear in any of that text.
"""

from __future__ import annotations

from tests.conftest import LeakWatch


def test_no_secret_or_token_in_any_output(leaks: LeakWatch) -> None:
    sensitive = leaks.sensitive()
    texts = leaks.texts
    assert texts, "the leak watch captured nothing: the check would be vacuous"
    assert sensitive, "no secrets or tokens were issued: the check would be vacuous"
    blob = "\n".join(texts)
    found = sorted({value[:6] + "..." for value in sensitive if value in blob})
    assert not found, f"{len(found)} secret/token value(s) appear in captured output (prefixes: {found})"
    print(f"no-leak: {len(sensitive)} secret/token values checked against {len(texts)} captured texts")
