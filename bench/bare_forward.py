"""The bare baseline of the proxy row: a forwarder with no lookup, no budget and no token handling (httpx behind
uvicorn, as the gateway), so the figures separate what any Python HTTP hop costs from what the proxy adds.

`python -m bench.bare_forward --port N --upstream URL` forwards every GET to URL + path, headers as sent.
"""

import argparse

import httpx
import uvicorn


def build(upstream: str):  # noqa: ANN201 - an ASGI app
    client = httpx.AsyncClient(base_url=upstream, timeout=30)

    async def app(scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            return
        headers = [(k, v) for k, v in scope["headers"] if k.lower() in (b"authorization", b"xero-tenant-id",
                                                                          b"accept")]
        answer = await client.request(scope["method"], scope["path"], headers=headers)
        await send({"type": "http.response.start", "status": answer.status_code,
                    "headers": [(b"content-type", answer.headers.get("content-type", "").encode())]})
        await send({"type": "http.response.body", "body": answer.content})
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    uvicorn.run(build(args.upstream), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
