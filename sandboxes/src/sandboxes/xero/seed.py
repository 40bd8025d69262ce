"""Many Xero users at once, each already connected to the app: what a benchmark at 10,000 merchants needs
without walking 20,000 consents through the browser pages.

Each seeded user gets `orgs_per_user` new organisations, one connection to each (one authEventId, as one
consent that picked them all), the scopes consented and a refresh token, exactly as `connect` and the token
endpoint would leave them; the caller gets back what the app would have stored (sub, refresh token, tenant
and connection ids) to put in its own database.
"""

from __future__ import annotations

import secrets
import uuid

from sandboxes.xero import demo_data
from sandboxes.xero.domain import Grant, Session
from sandboxes.xero.state import XeroState


def seed_users(state: XeroState, count: int, orgs_per_user: int, scopes: list[str], prefix: str) -> list[dict]:
    """`count` new users of the configured app; returns one record per user (no password: the demo one)."""
    client_id, now = state.settings.client_id, state.clock.now()
    password = demo_data.password_hash(demo_data.DEMO_PASSWORD)
    tag = secrets.token_hex(3)  # several seed calls never collide on email
    seeded = []
    for i in range(count):
        sub, xero_userid = uuid.uuid4().hex, str(uuid.uuid4())
        email = f"{prefix.lower()}-{tag}-{i}@xero-seed.test"
        tenant_ids = [str(uuid.uuid4()) for _ in range(orgs_per_user)]
        for n, tenant_id in enumerate(tenant_ids, start=1):
            state.orgs[tenant_id] = demo_data.organisation(tenant_id, f"{prefix} {tag}-{i} Org {n}")
        state.add_user({"email": email, "sub": sub, "xero_userid": xero_userid, "given_name": prefix,
                        "family_name": f"{tag}-{i}", "password_hash": password, "tenant_ids": tenant_ids})
        event_id = state.connect(sub, client_id, tenant_ids)
        granted = state.grant_scopes(sub, client_id, scopes)
        session = Session(id=secrets.token_urlsafe(16), sub=sub, auth_time=now)
        refresh = state.issue_refresh(Grant(sub, client_id, granted, event_id, session))
        seeded.append({"sub": sub, "xero_userid": xero_userid, "email": email, "name": f"{prefix} {tag}-{i}",
                       "auth_event_id": event_id, "refresh_token": refresh, "tenant_ids": tenant_ids,
                       "organisation_names": [state.orgs[t]["Name"] for t in tenant_ids],
                       "connection_ids": [state.find_connection(sub, client_id, t).id for t in tenant_ids]})
    return seeded
