"""Fixed demo users and organisations, loaded at start and on /_sandbox/reset.

Ids are constants so README steps and tests can name them. Classes follow the spec's Class enum:
the trial org is Class TRIAL and the Demo Company is Class DEMO with IsDemoCompany true.
"""

from __future__ import annotations

import uuid
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


def organisation(tenant_id: str, name: str, cls: str = "STANDARD") -> dict:
    """One more organisation (a seeded one): a UK company of that class, otherwise like the demo ones."""
    return _org(tenant_id, name, cls)


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


# --- accounting settings: a small chart of accounts and tax rates per country ----------------------------
# (code, name, type, class, default tax type); BANK accounts also get bank details. Codes follow Xero's
# default UK/NZ charts. Bank accounts take payments without EnablePaymentsToAccount (it stays false on them
# in real responses; the flag exists for non-bank accounts such as a clearing account).
_CHART = (
    ("090", "Business Bank Account", "BANK", "ASSET", "NONE"),
    ("200", "Sales", "REVENUE", "REVENUE", "OUTPUT2"),
    ("260", "Other Revenue", "REVENUE", "REVENUE", "OUTPUT2"),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "EXPENSE", "INPUT2"),
    ("400", "Advertising", "OVERHEADS", "EXPENSE", "INPUT2"),
    ("429", "General Expenses", "OVERHEADS", "EXPENSE", "INPUT2"),
    ("850", "Card Clearing", "CURRLIAB", "LIABILITY", "NONE"),
)
_PAYABLE_NON_BANK = {"850"}

# (tax type, name, rate %, revenue?, expenses?, report tax type)
_TAX_RATES = {
    "GB": (("OUTPUT2", "20% (VAT on Income)", "20", True, False, "OUTPUT"),
           ("INPUT2", "20% (VAT on Expenses)", "20", False, True, "INPUT"),
           ("RROUTPUT", "5% (VAT on Income)", "5", True, False, "OUTPUT"),
           ("ZERORATEDOUTPUT", "Zero Rated Income", "0", True, False, "OUTPUT"),
           ("ZERORATEDINPUT", "Zero Rated Expenses", "0", False, True, "INPUT"),
           ("EXEMPTOUTPUT", "Exempt Income", "0", True, False, "EXEMPTOUTPUT"),
           ("NONE", "No VAT", "0", True, True, "NONE")),
    "NZ": (("OUTPUT2", "15% GST on Income", "15", True, False, "OUTPUT"),
           ("INPUT2", "15% GST on Expenses", "15", False, True, "INPUT"),
           ("ZERORATED", "Zero Rated", "0", True, True, "NONE"),
           ("NONE", "No GST", "0", True, True, "NONE")),
}


def _stable_id(tenant_id: str, name: str) -> str:
    """Same id for the same org and code after every reset, so tests and README steps can name it."""
    return str(uuid.uuid5(uuid.UUID(tenant_id), name))


def accounts(tenant_id: str, currency: str) -> list[dict]:
    """The org's chart of accounts as Xero's Account schema names its fields."""
    out = []
    for code, name, kind, cls, tax in _CHART:
        account = {"AccountID": _stable_id(tenant_id, f"account:{code}"), "Code": code, "Name": name,
                   "Status": "ACTIVE", "Type": kind, "TaxType": tax, "Class": cls,
                   "EnablePaymentsToAccount": code in _PAYABLE_NON_BANK, "ShowInExpenseClaims": cls == "EXPENSE",
                   "ReportingCode": cls[:3], "ReportingCodeName": cls.title(), "HasAttachments": False,
                   "UpdatedDateUTC": "/Date(1700000000000+0000)/", "AddToWatchlist": False}
        if kind == "BANK":
            account.update(BankAccountNumber="12345678", BankAccountType="BANK", CurrencyCode=currency)
        out.append(account)
    return out


def tax_rates(country: str) -> list[dict]:
    """UK-like VAT rates for GB orgs, GST for NZ (other countries get the UK set)."""
    label = "GST" if country == "NZ" else "VAT"
    return [{"Name": name, "TaxType": tax_type, "ReportTaxType": report, "CanApplyToAssets": expenses,
             "CanApplyToEquity": expenses, "CanApplyToExpenses": expenses, "CanApplyToLiabilities": True,
             "CanApplyToRevenue": revenue, "DisplayTaxRate": float(rate), "EffectiveRate": float(rate),
             "Status": "ACTIVE",
             "TaxComponents": [{"Name": label, "Rate": float(rate), "IsCompound": False, "IsNonRecoverable": False}]}
            for tax_type, name, rate, revenue, expenses, report in _TAX_RATES.get(country, _TAX_RATES["GB"])]
