"""Fixed demo merchants, users, stores and API keys, so READMEs and tests can name them.

The plain demo keys live here as constants only; the sandbox's key table stores their hashes,
exactly like keys issued at run time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandboxes.cloudpos.state import CloudPosState

DEMO_PASSWORD = "CloudPOS-Demo-2026!"

# Steve's Cycles: Pro Plus, three stores, the merchant of the help article's screenshots.
STEVE_MERCHANT_ID = "m-steve-cycles"
STEVE_MERCHANT_NAME = "Steve's Cycles"
STEVE_CONTACT_EMAIL = "accounts@steves-cycles.test"
STEVE_USER_ID = "u-steve"
STEVE_USERNAME = "steve@cloudpos-demo.test"
STEVE_DISPLAY_NAME = "Steve Rider"
STEVE_STORES = {
    "s-steve-1": "Steve Test Store",
    "s-steve-2": "Steve Test Store 2",
    "s-steve-3": "Steve Outlet Store",
}
# The outlet does not trade on Sundays: its seeded Sundays have no sales (a day with nothing to post).
STEVE_OUTLET_CLOSED_WEEKDAYS = frozenset({6})
# A former employee whose Back Office login was disabled: sign-in gives 403.
DISABLED_USER_ID = "u-steve-former"
DISABLED_USERNAME = "former.staff@cloudpos-demo.test"

# Basil's Bakery: only a Pro licence, so the Xero integration must be refused.
BASIL_MERCHANT_ID = "m-basil-bakery"
BASIL_MERCHANT_NAME = "Basil's Bakery"
BASIL_CONTACT_EMAIL = "hello@basils-bakery.test"
BASIL_USER_ID = "u-basil"
BASIL_USERNAME = "basil@cloudpos-demo.test"
BASIL_DISPLAY_NAME = "Basil Baker"
BASIL_STORES = {"s-basil-1": "Basil's Bakery High Street"}

XERO_LABEL = "Xero API Client"
BRM_LABEL = "Bike Rental Manager API Client"

DEMO_XERO_KEY_ID = "k-steve-xero"
DEMO_XERO_KEY = "cpk_demo_xero_steve_cycles_00000000000000001"
DEMO_BRM_KEY_ID = "k-steve-brm"
DEMO_BRM_KEY = "cpk_demo_brm_steve_cycles_000000000000000001"
DEMO_REVOKED_XERO_KEY_ID = "k-steve-xero-revoked"
DEMO_REVOKED_XERO_KEY = "cpk_demo_xero_revoked_steve_0000000000000001"
DEMO_BASIL_XERO_KEY_ID = "k-basil-xero"
DEMO_BASIL_XERO_KEY = "cpk_demo_xero_basil_bakery_00000000000000001"

_ISSUED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
_REVOKED = datetime(2026, 1, 12, 16, 0, tzinfo=UTC)


def load(state: CloudPosState) -> None:
    """Put the demo organisations into an (empty) sandbox state."""
    state.add_merchant(STEVE_MERCHANT_ID, STEVE_MERCHANT_NAME, "pro_plus", STEVE_CONTACT_EMAIL)
    for store_id, name in STEVE_STORES.items():
        closed = STEVE_OUTLET_CLOSED_WEEKDAYS if store_id == "s-steve-3" else frozenset()
        state.add_store(store_id, STEVE_MERCHANT_ID, name, closed)
    state.add_user(STEVE_USER_ID, STEVE_MERCHANT_ID, STEVE_USERNAME, STEVE_DISPLAY_NAME, DEMO_PASSWORD)
    state.add_user(
        DISABLED_USER_ID, STEVE_MERCHANT_ID, DISABLED_USERNAME, "Former Staff", DEMO_PASSWORD, disabled=True
    )
    state.add_key(DEMO_REVOKED_XERO_KEY_ID, DEMO_REVOKED_XERO_KEY, STEVE_MERCHANT_ID, XERO_LABEL, "xero",
                  created_at=_ISSUED, revoked_at=_REVOKED)
    state.add_key(DEMO_XERO_KEY_ID, DEMO_XERO_KEY, STEVE_MERCHANT_ID, XERO_LABEL, "xero", created_at=_REVOKED)
    state.add_key(DEMO_BRM_KEY_ID, DEMO_BRM_KEY, STEVE_MERCHANT_ID, BRM_LABEL, "bike_rental_manager",
                  created_at=_ISSUED)

    state.add_merchant(BASIL_MERCHANT_ID, BASIL_MERCHANT_NAME, "pro", BASIL_CONTACT_EMAIL)
    for store_id, name in BASIL_STORES.items():
        state.add_store(store_id, BASIL_MERCHANT_ID, name)
    state.add_user(BASIL_USER_ID, BASIL_MERCHANT_ID, BASIL_USERNAME, BASIL_DISPLAY_NAME, DEMO_PASSWORD)
    state.add_key(DEMO_BASIL_XERO_KEY_ID, DEMO_BASIL_XERO_KEY, BASIL_MERCHANT_ID, XERO_LABEL, "xero",
                  created_at=_ISSUED)
