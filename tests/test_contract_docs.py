"""The committed JSON Schemas and AsyncAPI documents are exactly what the code generates (`make docs`)."""

import json

from tools.contract_docs import ROOT, expected_files


def test_committed_contract_documents_match_the_code():
    expected = expected_files()
    stale = [str(p.relative_to(ROOT)) for p, text in expected.items() if not p.exists() or p.read_text() != text]
    assert not stale, f"regenerate with `make docs`: {stale}"


def test_no_orphan_documents_remain():
    expected = set(expected_files())
    committed = {*ROOT.glob("docs/contracts/*.json"), *ROOT.glob("docs/asyncapi/*.json"),
                 *ROOT.glob("docs/openapi/*.json")}
    assert committed <= expected, f"documents for events or services that no longer exist: {committed - expected}"


def test_asyncapi_documents_are_version_3_and_name_their_topics():
    doc = json.loads((ROOT / "docs" / "asyncapi" / "connection_registry.json").read_text())
    assert doc["asyncapi"] == "3.0.0"
    assert {c["address"] for c in doc["channels"].values()} >= {"KeyValidated"}


def test_the_platform_api_is_published_with_its_three_operations_and_problem_details():
    doc = json.loads((ROOT / "docs" / "openapi" / "platform-api.json").read_text())
    paths = doc["paths"]
    assert set(paths) == {"/internal/v1/stores/{store_id}/xero", "/internal/v1/stores/{store_id}/xero/access-token",
                          "/internal/v1/stores/{store_id}/xero/proxy/{path}"}
    assert set(paths["/internal/v1/stores/{store_id}/xero/proxy/{path}"]) == {"get", "post", "put", "delete", "patch"}
    refused = paths["/internal/v1/stores/{store_id}/xero"]["get"]["responses"]["404"]["content"]
    assert "application/problem+json" in refused
