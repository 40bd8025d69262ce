"""§B32/§B40 on every JSON API (key_validator, connection_registry, notifier, the gateway's platform API) over real HTTP, with real
PostgreSQL and Kafka behind them: schemathesis-generated requests from each service's /openapi.json, then
a fixed list of hostile values in every path, query, header and body field, and oversized bodies.
The promise checked: never a 5xx, never an echo of a hostile value, and the bearer token always first."""

import json
from urllib.parse import quote
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from .apis import TOKEN, Api, json_apis

TOKEN_PREFIX = TOKEN[:-1].encode()  # all but the last character

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.security]
SERVICES = ["key_validator", "connection_registry", "notifier", "platform_api"]
HOSTILE = [
    "", " ", "\x00", "a\x00b", "' OR '1'='1", "1; DROP TABLE stores; --", "\" OR 1=1 --",
    "<script>alert(1)</script>", "{{7*7}}", "${jndi:ldap://127.0.0.1/x}", "../../../../etc/passwd",
    "%00%2e%2e%2f", "\r\nSet-Cookie: pwned=1", "💥" * 50, "\u202e\ufeff", "A" * 10_000,
    "-1", "99999999999999999999999999", "NaN", "null", "[]", "{}", "00000000-0000-0000-0000-000000000000",
]


@pytest.fixture(scope="module")
def apis(pg_dsn, kafka_bootstrap) -> Iterator[dict[str, Api]]:
    with json_apis(pg_dsn, kafka_bootstrap) as served:
        yield served


def operations(api: Api) -> list:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    assert found, f"{api.name} publishes no operation"
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_schemathesis_finds_no_server_error(apis, service):
    api = apis[service]
    failures: list[str] = []
    for operation in operations(api):
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            for headers in (api.auth, {}):  # with the token, and without it (must be 401, never 5xx)
                response = case.call(base_url=api.url, headers=headers, timeout=30)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} {case.body!r:.200} -> "
                                    f"{response.status_code} {response.text[:200]}")
        run()
    assert not failures, "\n".join(failures[:10])


def _requests(operation, value: str) -> Iterator[tuple[str, str, dict]]:
    """One request per field: each path/query/header parameter, then each top-level body property,
    set to `value` while the rest keep a plausible default."""
    path_params = {p.name: "x" for p in operation.path_parameters}
    path_template = operation.path

    def url(params: dict[str, str]) -> str:
        out = path_template
        for name, val in params.items():
            out = out.replace("{" + name + "}", quote(val, safe="") or "%20")
        return out
    for name in path_params:
        yield "path " + name, url(path_params | {name: value}), {}
    for parameter in operation.query:
        yield "query " + parameter.name, url(path_params), {"params": {parameter.name: value}}
    for parameter in operation.headers:
        if parameter.name.lower() != "authorization" and _header_safe(value).strip():
            yield "header " + parameter.name, url(path_params), {"headers": {parameter.name: _header_safe(value)}}
    body = operation.definition.raw.get("requestBody")
    if body:
        media = next(iter(body.get("content", {})), "application/json")
        schema = body["content"][media].get("schema", {})
        if "$ref" in schema:
            schema = operation.schema.raw_schema
            for part in body["content"][media]["schema"]["$ref"].lstrip("#/").split("/"):
                schema = schema[part]
        for prop in schema.get("properties", {}) or {"_": {}}:
            yield "body " + prop, url(path_params), {"json": {prop: value}}
            yield "body " + prop + " (whole object)", url(path_params), {
                "json": dict.fromkeys(schema.get("properties", {prop: {}}), value)}


def _header_safe(value: str) -> str:
    return value.encode("latin-1", "replace").decode("latin-1").replace("\r", "").replace("\n", "").replace("\x00", "")


@pytest.mark.parametrize("service", SERVICES)
def test_hostile_values_in_every_field_never_cause_a_5xx_or_an_echo(apis, service):
    api = apis[service]
    failures: list[str] = []
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for operation in operations(api):
            for value in HOSTILE:
                for field, path, kwargs in _requests(operation, value):
                    headers = api.auth | kwargs.pop("headers", {})
                    response = http.request(operation.method.upper(), path, headers=headers, **kwargs)
                    where = f"{operation.method.upper()} {operation.path} {field}={value[:30]!r}"
                    if response.status_code >= 500:
                        failures.append(f"{where} -> {response.status_code} {response.text[:200]}")
                    elif any(c in value for c in "<'$\r") and value in response.text:
                        failures.append(f"{where} echoed in a {response.status_code}: {response.text[:200]}")
                    if "set-cookie" in response.headers and "pwned" in response.headers["set-cookie"]:
                        failures.append(f"{where} injected a header")
    assert not failures, f"{len(failures)} failure(s):\n" + "\n".join(failures[:15])


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(("what", "body", "content_type"), [
    ("1 MiB of JSON", json.dumps({"x": "A" * (1 << 20)}).encode(), "application/json"),
    ("JSON nested 10k deep", b"[" * 10_000 + b"]" * 10_000, "application/json"),
    ("not JSON", b"\xff\xfe\x00garbage", "application/json"),
    ("a form instead of JSON", b"a=1&b=2", "application/x-www-form-urlencoded"),
])
def test_oversized_deep_and_malformed_bodies_are_refused_cleanly(apis, service, what, body, content_type):
    api = apis[service]
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for operation in operations(api):
            if operation.method.upper() not in ("POST", "PUT", "PATCH"):
                continue
            path = operation.path
            for parameter in operation.path_parameters:
                path = path.replace("{" + parameter.name + "}", "x")
            response = http.request(operation.method.upper(), path, content=body,
                                    headers=api.auth | {"Content-Type": content_type})
            assert 400 <= response.status_code < 500, (what, operation.path, response.status_code, response.text[:300])


def test_registry_helpdesk_pages_survive_hostile_cookies_forms_and_paths(apis):
    """The registry's HTML helpdesk pages are outside its OpenAPI: forged session cookies (including
    non-ASCII ones, which once raised a TypeError in compare_digest: a 500) and hostile form values."""
    api = apis["connection_registry"]
    failures: list[str] = []
    cookies = ["", "a|b|c|d", "hd|9999999999|n|" + "0" * 64, "hd|9999999999|n|💥", "💥|💥|💥|💥", "|||",
               "hd|NaN|n|x", "A" * 5000]
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for cookie in cookies:
            for method, path in (("GET", "/helpdesk/"), ("GET", "/helpdesk/merchants/m-1"),
                                 ("POST", "/helpdesk/merchants/m-1/finalise"), ("POST", "/helpdesk/logout")):
                response = http.request(method, path, headers={"cookie": f"registry_helpdesk={quote(cookie)}"},
                                        data={"csrf": cookie})
                raw = http.request(method, path, headers=[(b"cookie", b"registry_helpdesk=" + cookie.encode())])
                for r in (response, raw):
                    if r.status_code >= 500 or r.status_code == 200:
                        failures.append(f"{method} {path} cookie={cookie[:20]!r} -> {r.status_code}")
        for value in HOSTILE:
            login = http.post("/helpdesk/login", data={"helpdesk_id": value, "token": value})
            merchant = http.get(f"/helpdesk/merchants/{quote(value, safe='') or '%20'}")
            for r, what in ((login, "login"), (merchant, "merchant page")):
                if r.status_code >= 500 or "<script>" in r.text or "registry_helpdesk=" in r.headers.get("set-cookie", ""):
                    failures.append(f"{what} {value[:20]!r} -> {r.status_code}")
    assert not failures, "\n".join(failures[:15])


@pytest.mark.parametrize("service", SERVICES)
def test_forged_bearer_tokens_are_401_never_5xx(apis, service):
    api = apis[service]
    protected = [op for op in operations(api) if op.path.startswith(("/v1/", "/internal/v1/"))]
    assert protected
    forged = [b"Bearer \xf0\x9f\x92\xa5", b"Bearer " + b"A" * 8000, b"Bearer", b"Basic dXNlcjpwYXNz", b"bearer x",
              b"Bearer " + TOKEN_PREFIX, b"Bearer " + TOKEN_PREFIX + b"\xff"]
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for operation in protected:
            path = operation.path
            for parameter in operation.path_parameters:
                path = path.replace("{" + parameter.name + "}", "x")
            for value in forged:
                response = http.request(operation.method.upper(), path, headers=[(b"authorization", value)])
                assert response.status_code in (401, 403, 431), (operation.path, value[:30], response.status_code,
                                                                 response.text[:200])
