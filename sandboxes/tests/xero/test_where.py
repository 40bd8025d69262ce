"""The `where` subset: clauses, guid(), ToLower(), string methods, numbers, and refusal of what it cannot read."""

from decimal import Decimal

import pytest

from sandboxes.xero.where import QueryParseError, matches, parse_where

INVOICE = {"Type": "ACCREC", "Status": "DRAFT", "Total": 12.5, "Reference": "Till 1",
           "Contact": {"ContactID": "0b7e1c9a-1111-4222-8333-944455556666", "Name": "Walk-in"}}


@pytest.mark.parametrize("where, expected", [
    ('Status=="DRAFT"', True),
    ('(Status=="DRAFT" AND Total>=10)', True),
    ('Type=="ACCREC" && Total<10', False),
    ('Contact.ContactID==guid("0B7E1C9A-1111-4222-8333-944455556666")', True),
    ('Contact.Name.ToLower()=="walk-in"', True),
    ('Contact.Name=="walk-in"', False),
    ('Reference.Contains("ill")', True),
    ('Reference.StartsWith("X")', False),
    ('(Reference.EndsWith("1"))', True),
    ('InvoiceNumber=="INV-0001"', False),  # a field the record leaves out reads as null
])
def test_where_clauses(where, expected):
    assert matches(INVOICE, parse_where(where)) is expected


def test_literals_and_refusals():
    assert parse_where('Total>1 AND IsCustomer==true')[0].value == Decimal("1")
    assert parse_where("") == []
    for unsupported in ('Total>1 OR Total<0', 'Date>=DateTime(2026,1,1)', 'Name.Foo("x")', 'Name=x'):
        with pytest.raises(QueryParseError):
            parse_where(unsupported)
