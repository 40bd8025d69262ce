"""Generate the committed contract documents: `docs/contracts/<type>.json` (JSON Schemas of the events),
`docs/asyncapi/<service>.json` (AsyncAPI 3, from each service's FastStream broker) and
`docs/openapi/platform-api.json` (the gateway's internal platform API, OpenAPI 3.1).

`make docs` writes them; `tests/test_contract_docs.py` fails when the committed files drift from the code.
"""

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from shared.contracts.schemas import json_schemas

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("key_validator", "oauth_gateway", "connection_registry", "notifier")
VERSION = "1"


def asyncapi_documents() -> dict[str, dict[str, Any]]:
    documents = {}
    for service in SERVICES:
        main = importlib.import_module(f"{service}.main")
        settings = importlib.import_module(f"{service}.settings")
        app = main.build_app(settings.example_settings())
        documents[service] = app.state.runtime.asyncapi(VERSION)
    return documents


def platform_openapi() -> dict[str, Any]:
    from oauth_gateway.main import build_app
    from oauth_gateway.settings import example_settings

    return build_app(example_settings()).state.platform_api.openapi()


def expected_files() -> dict[Path, str]:
    files = {ROOT / "docs" / "contracts" / f"{type_}.json": schema for type_, schema in json_schemas().items()}
    files |= {ROOT / "docs" / "asyncapi" / f"{service}.json": doc for service, doc in asyncapi_documents().items()}
    files[ROOT / "docs" / "openapi" / "platform-api.json"] = platform_openapi()
    return {path: json.dumps(content, indent=2, sort_keys=True) + "\n" for path, content in files.items()}


def main() -> int:
    for path, text in expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
