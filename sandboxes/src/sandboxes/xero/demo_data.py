"""Fixed demo users and organisations, loaded at start and on /_sandbox/reset.

Ids are constants so README steps and tests can name them. Classes follow the spec's Class enum:
the trial org is Class TRIAL and the Demo Company is Class DEMO with IsDemoCompany true.
"""

from __future__ import annotations

from functools import lru_cache

import bcrypt

DEMO_PASSWORD = "Xero-Demo-2026!"

STEVE_EMAIL = "steve@xero-demo.test"
STEVE_XERO_USERID = "6f1a2b3c-4d5e-4f60-8a71-92b3c4d5e6f7"
STEVE_SUB = "9b2f3c4d5e6f47a8b9c0d1e2f3a4b5c6"
OTHER_EMAIL = "other@xero-demo.test"
OTHER_XERO_USERID = "7a2b3c4d-5e6f-4a70-9b81-a3c4d5e6f708"
OTHER_SUB = "0c3d4e5f6a7b48c9d0e1f2a3b4c5d6e7"

STEVE_TEST_STORE_TENANT_ID = "3f5c1b2a-8d4e-4c6f-9a1b-2c3d4e5f6a01"
STEVE_PREMIUM_TENANT_ID = "3f5c1b2a-8d4e-4c6f-9a1b-2c3d4e5f6a02"
STEVE_STARTER_TENANT_ID = "3f5c1b2a-8d4e-4c6f-9a1b-2c3d4e5f6a03"
STEVE_TRIAL_TENANT_ID = "3f5c1b2a-8d4e-4c6f-9a1b-2c3d4e5f6a04"
DEMO_COMPANY_UK_TENANT_ID = "3f5c1b2a-8d4e-4c6f-9a1b-2c3d4e5f6a05"
OTHER_ORG_TENANT_ID = "3f5c1b2a-8d4e-4c6f-9a1b-2c3d4e5f6a06"


def _org(tenant_id: str, name: str, cls: str, *, legal: str | None = None, country: str = "GB",
         currency: str = "GBP", version: str = "UK", demo: bool = False, edition: str = "BUSINESS",
         short_code: str = "!AbCdE", created: int = 1_700_000_000_000) -> dict:
    """One organisation as Xero's Organisation schema names its fields (PascalCase)."""
    return {
        "OrganisationID": tenant_id, "APIKey": "", "Name": name, "LegalName": legal or name,
        "PaysTax": True, "Version": version, "OrganisationType": "COMPANY", "BaseCurrency": currency,
        "CountryCode": country, "IsDemoCompany": demo, "OrganisationStatus": "ACTIVE",
        "RegistrationNumber": "", "TaxNumber": "GB123456789", "FinancialYearEndDay": 31,
        "FinancialYearEndMonth": 3, "SalesTaxBasis": "ACCRUALS", "SalesTaxPeriod": "QUARTERLY1",
        "DefaultSalesTax": "Tax Exclusive", "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": f"/Date({created})/", "OrganisationEntityType": "COMPANY",
        "Timezone": "GMTSTANDARDTIME", "ShortCode": short_code, "Edition": edition, "Class": cls,
        "LineOfBusiness": "Bicycle retail", "Addresses": [], "Phones": [], "ExternalLinks": [],
        "PaymentTerms": {},
    }


def organisations() -> list[dict]:
    """Fresh copies each call so control hooks can mutate them without leaking across resets."""
    return [
        _org(STEVE_TEST_STORE_TENANT_ID, "Steve Test Store", "STANDARD", legal="Steve Test Store Ltd",
             short_code="!sT1aa"),
        _org(STEVE_PREMIUM_TENANT_ID, "Steve Premium Ltd", "PREMIUM", short_code="!sP2bb"),
        _org(STEVE_STARTER_TENANT_ID, "Steve Starter Ltd", "STARTER", short_code="!sS3cc"),
        _org(STEVE_TRIAL_TENANT_ID, "Steve Trial Ltd", "TRIAL", short_code="!sR4dd"),
        _org(DEMO_COMPANY_UK_TENANT_ID, "Demo Company (UK)", "DEMO", demo=True, short_code="!dC5ee"),
        _org(OTHER_ORG_TENANT_ID, "Other Org Ltd", "STANDARD", country="NZ", currency="NZD",
             version="NZ", short_code="!oO6ff"),
    ]


@lru_cache(maxsize=None)
def password_hash(password: str) -> bytes:
    """bcrypt once per process; resets reuse the hash instead of paying for it again."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10))


def users() -> list[dict]:
    """Xero users: sub is 32 hex chars, xero_userid a dashed uuid, as in real tokens."""
    return [
        {"email": STEVE_EMAIL, "sub": STEVE_SUB, "xero_userid": STEVE_XERO_USERID, "given_name": "Steve",
         "family_name": "Tester", "password_hash": password_hash(DEMO_PASSWORD),
         "tenant_ids": [STEVE_TEST_STORE_TENANT_ID, STEVE_PREMIUM_TENANT_ID, STEVE_STARTER_TENANT_ID,
                        STEVE_TRIAL_TENANT_ID, DEMO_COMPANY_UK_TENANT_ID]},
        {"email": OTHER_EMAIL, "sub": OTHER_SUB, "xero_userid": OTHER_XERO_USERID, "given_name": "Olive",
         "family_name": "Other", "password_hash": password_hash(DEMO_PASSWORD),
         "tenant_ids": [OTHER_ORG_TENANT_ID]},
    ]
