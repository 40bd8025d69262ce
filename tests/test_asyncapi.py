"""docs/asyncapi/*.json pass the official AsyncAPI parser (@asyncapi/parser, pinned in tools/asyncapi, installed by
tools/bootstrap.sh with `npm ci`): no diagnostic of severity error. Without node the test skips locally but fails
in CI, where the documents must be validated."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "asyncapi"


def _parse(*documents: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    installed = (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir()
    if not (node and installed):
        missing = "node is not installed" if not node else "tools/asyncapi has no node_modules"
        if os.environ.get("CI"):
            pytest.fail(f"{missing} (tools/bootstrap.sh installs it)")
        pytest.skip(f"{missing} (run `make bootstrap`)")
    return subprocess.run([node, str(TOOL / "validate.mjs"), *map(str, documents)], capture_output=True, text=True,
                          timeout=120, check=False, cwd=TOOL)


def test_the_committed_documents_pass_the_official_parser() -> None:
    result = _parse()
    output = result.stdout + result.stderr
    print(output)  # the warnings, for the CI log
    documents = sorted((ROOT / "docs" / "asyncapi").glob("*.json"))
    assert result.returncode == 0, output
    assert f"{len(documents)} of {len(documents)} AsyncAPI documents valid" in output
    assert " error " not in output


def test_the_parser_refuses_a_document_that_breaks_the_spec(tmp_path: Path) -> None:
    """The check can fail: a dangling reference and an unknown Kafka binding field are errors."""
    doc = json.loads((ROOT / "docs" / "asyncapi" / "key_validator.json").read_text())
    message = doc["components"]["messages"]["KeyValidated.v1"]
    message["payload"] = {"$ref": "#/components/schemas/NoSuchSchema"}
    message["bindings"]["kafka"]["partitionKey"] = "merchant_id"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(doc))
    result = _parse(broken)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "broken.json: INVALID" in output and "0 of 1 AsyncAPI documents valid" in output
    assert "error invalid-ref" in output and '"partitionKey" is not expected' in output
