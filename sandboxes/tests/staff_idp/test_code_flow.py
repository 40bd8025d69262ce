"""The helpdesk console's sign-in, end to end over HTTP: the console's own OIDC client against the sandbox."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from sandboxes.signing import RsaSigner
from sandboxes.staff_idp import (
    AGENT_ROLE,
    ALICE_EMAIL,
    BOB_EMAIL,
    DEMO_PASSWORD,
    LEAD_ROLE,
    LENA_EMAIL,
    SAM_EMAIL,
    STAFF,
)
from shared.oidc import IdTokenRejected

from .conftest import CLIENT_ID, REDIRECT_URI, query_of, txn_of

BY_EMAIL = {member.email: member for member in STAFF}


async def test_discovery_names_the_endpoints_and_what_the_provider_supports(idp):
    document = await idp.rp.metadata()
    base = idp.base_url
    assert document["issuer"] == base
    assert (document["authorization_endpoint"], document["token_endpoint"], document["jwks_uri"],
            document["userinfo_endpoint"], document["end_session_endpoint"]) == (
        f"{base}/authorize", f"{base}/token", f"{base}/jwks", f"{base}/userinfo", f"{base}/end_session")
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert "roles" in document["claims_supported"]
    keys = httpx.get(document["jwks_uri"]).json()["keys"]
    assert [(k["kty"], k["alg"], k["use"]) for k in keys] == [("RSA", "RS256", "sig")] and "d" not in keys[0]


async def test_the_sign_in_page_asks_for_email_and_password(idp, browser):
    response, _ = await idp.authorize(browser)
    assert response.status_code == 302 and response.headers["location"].startswith("/login?txn=")
    page = await browser.get(response.headers["location"])
    assert page.status_code == 200
    assert "<h1>Sign in to Cloud POS staff</h1>" in page.text
    assert '<label for="email">Email address</label>' in page.text
    assert '<label for="password">Password</label>' in page.text
    assert re.search(r'<button type="submit">Sign in</button>', page.text)


@pytest.mark.parametrize(("email", "roles"), [(ALICE_EMAIL, [AGENT_ROLE]), (BOB_EMAIL, [AGENT_ROLE]),
                                              (LENA_EMAIL, [LEAD_ROLE]), (SAM_EMAIL, ["sales"])])
async def test_a_full_code_flow_gives_an_id_token_that_verifies_and_carries_the_roles(idp, browser, email, roles):
    callback, attempt = await idp.sign_in(browser, email)
    assert callback["state"] == attempt.state and callback["iss"] == idp.base_url  # RFC 9207
    tokens = await idp.rp.exchange_code(callback["code"], attempt.verifier, REDIRECT_URI)
    assert tokens["token_type"] == "Bearer"
    now = datetime.now(UTC)
    claims = await idp.rp.verify_id_token(tokens["id_token"], nonce=attempt.nonce,
                                          access_token=tokens["access_token"], now=now)
    member = BY_EMAIL[email]
    assert claims["iss"] == idp.base_url and claims["aud"] == CLIENT_ID and claims["nonce"] == attempt.nonce
    assert (claims["sub"], claims["name"], claims["email"], claims["preferred_username"]) == (
        member.sub, member.name, email, email)
    assert claims["email_verified"] is True and claims["roles"] == roles
    assert claims["exp"] - claims["iat"] == 300 and abs(claims["iat"] - now.timestamp()) < 5
    assert abs(claims["auth_time"] - now.timestamp()) < 5 and claims["sid"] and claims["at_hash"]
    info = httpx.get(f"{idp.base_url}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200 and info.json() == {
        "sub": member.sub, "name": member.name, "preferred_username": email, "email": email,
        "email_verified": True, "roles": roles}


async def test_the_subject_is_stable_across_sign_ins(idp, browser):
    subjects, sids = [], []
    for prompt in ("login", "login"):
        callback, attempt = await idp.sign_in(browser, prompt=prompt)
        tokens = await idp.rp.exchange_code(callback["code"], attempt.verifier, REDIRECT_URI)
        claims = await idp.rp.verify_id_token(tokens["id_token"], nonce=attempt.nonce,
                                              access_token=tokens["access_token"], now=datetime.now(UTC))
        subjects.append(claims["sub"])
        sids.append(claims["sid"])
    assert subjects[0] == subjects[1] == BY_EMAIL[ALICE_EMAIL].sub
    assert sids[0] != sids[1]  # a fresh password sign-in is a new IdP session


async def test_a_wrong_password_is_refused_without_saying_which_field_was_wrong(idp, browser):
    response, _ = await idp.authorize(browser)
    txn = txn_of((await browser.get(response.headers["location"])).text)
    answers = [await browser.post("/login", data={"txn": txn, "email": email, "password": password})
               for email, password in ((ALICE_EMAIL, "not-the-password"), ("nobody@helpdesk.cloudpos.test",
                                                                              DEMO_PASSWORD))]
    for answer in answers:
        assert answer.status_code == 400 and "location" not in answer.headers
        assert "Incorrect email address or password." in answer.text
        assert "staff_idp_session" not in answer.headers.get("set-cookie", "")
    assert answers[0].text.replace(ALICE_EMAIL, "X") == answers[1].text.replace("nobody@helpdesk.cloudpos.test", "X")
    posted = await browser.post("/login", data={"txn": txn, "email": ALICE_EMAIL, "password": DEMO_PASSWORD})
    assert posted.status_code == 302 and query_of(posted.headers["location"])["code"]  # the page can be retried


async def test_a_wrong_nonce_is_refused_by_the_relying_party(idp, browser):
    callback, attempt = await idp.sign_in(browser)
    tokens = await idp.rp.exchange_code(callback["code"], attempt.verifier, REDIRECT_URI)
    with pytest.raises(IdTokenRejected):
        await idp.rp.verify_id_token(tokens["id_token"], nonce="another-nonce", access_token=tokens["access_token"],
                                     now=datetime.now(UTC))


@pytest.mark.parametrize("kid", ["its own", "the provider's"])
async def test_an_id_token_signed_by_another_key_is_refused(idp, browser, kid):
    callback, attempt = await idp.sign_in(browser)
    tokens = await idp.rp.exchange_code(callback["code"], attempt.verifier, REDIRECT_URI)
    genuine = await idp.rp.verify_id_token(tokens["id_token"], nonce=attempt.nonce,
                                           access_token=tokens["access_token"], now=datetime.now(UTC))
    other = RsaSigner("staff-idp.sandbox")
    if kid == "the provider's":
        other.kid = httpx.get(f"{idp.base_url}/jwks").json()["keys"][0]["kid"]
    forged = other.sign(genuine)  # the very same claims, another key
    with pytest.raises(IdTokenRejected):
        await idp.rp.verify_id_token(forged, nonce=attempt.nonce, access_token=tokens["access_token"],
                                     now=datetime.now(UTC))
