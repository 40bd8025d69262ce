"""Log redaction of OAuth's bearer values (issue #21, item 3): JWTs, and the authorization code and state in
URLs, query strings, forms, JSON and uvicorn's access lines; our own short codes ("not_found") stay readable."""

import json
import logging

import pytest

from shared.logs import JsonFormatter, redact

JWT = ("eyJhbGciOiJSUzI1NiIsImtpZCI6IjFDQUY4RTY2NzcyRDZEQzAyOEQ2NzI2RkQwMjYxNTgxNTcwRUZDMTkifQ"
       ".eyJzdWIiOiJ1c2VyLTEiLCJhdWQiOiJDTElFTlQifQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmU_-w")
CODE = "4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a"
STATE = "Zx9_kq-3LmN0pQrStUvWxYz012345"


@pytest.mark.parametrize("text", [
    f"id_token {JWT} received",                                           # a bare JWT
    f'{{"id_token": "{JWT}", "access_token": "{JWT}"}}',                 # in a token response
    f"answer was {JWT[:-3]}.",                                           # shortened, ends a sentence
    f"GET /xero/callback?code={CODE}&state={STATE}&scope=openid",         # the callback URL
    f"https://setup.example/xero/callback?state={STATE}&code={CODE}&session_state=abc.def-123456",
    f"GET /login?ReturnUrl=%2Fauthorize%3Fresponse_type%3Dcode%26state%3D{STATE}%26code%3D{CODE}%26nonce%3Dn",
    f"code={CODE}&grant_type=authorization_code&redirect_uri=x",          # the token request's form body
    f"b'code={CODE}&code_verifier=v'",                                   # ... as bytes
    f'{{"code": "{CODE}", "state": "{STATE}"}}',                         # as JSON
    json.dumps({"message": f'{{"code": "{CODE}"}}'}),                    # JSON inside a JSON log line
])
def test_oauth_bearer_values_are_masked(text: str) -> None:
    masked = redact(text)
    assert JWT not in masked and JWT[:40] not in masked
    assert CODE not in masked and STATE not in masked and "abc.def-123456" not in masked
    assert "[REDACTED]" in masked


@pytest.mark.parametrize("text", [
    '{"code": "not_found", "message": "No such resource.", "retryable": false}',
    '{"code": "invalid_credentials"}', '{"state": "connected"}', "code=not_found", "store state=reconnect_needed",
    "error_code=ORG_NOT_FOUND_123456", "postcode=AB12CD34EF", "ErrorNumber 10, Type ValidationException",
])
def test_our_own_codes_and_states_stay_readable(text: str) -> None:
    assert redact(text) == text


def test_a_uvicorn_access_line_of_the_callback_is_masked() -> None:
    """uvicorn's access logger formats `%s - "%s %s HTTP/%s" %d` from its args; the formatter masks the result."""
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("10.0.0.7:51234", "GET", f"/xero/callback?code={CODE}&state={STATE}", "1.1", 303),
                               None)
    line = JsonFormatter("oauth_gateway").format(record)
    assert CODE not in line and STATE not in line
    assert "/xero/callback?code=[REDACTED]&state=[REDACTED]" in json.loads(line)["message"]
