"""A read-only "Back Office" page: merchants, stores and the External Access key table.

It shows labels, services and dates but never a key: the plain key exists only in the
support response that issued it, and the table keeps only hashes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from sandboxes.cloudpos.state import CloudPosState

_TEMPLATE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cloud POS Back Office (sandbox)</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.revoked{color:#999}</style></head>
<body><h1>Cloud POS Back Office <small>(sandbox)</small></h1>
{% for m in merchants %}<section id="{{ m.merchant.merchant_id }}">
<h2>{{ m.merchant.name }} <small>{{ m.merchant.merchant_id }} &middot; licence {{ m.merchant.licence }}</small></h2>
<h3>Stores</h3><ul>{% for s in m.stores %}<li>{{ s.name }} <small>({{ s.store_id }})</small></li>
{% else %}<li>No stores</li>{% endfor %}</ul>
<h3>External Access To The Cloud POS API</h3>
<table><tr><th>Label</th><th>Service</th><th>Key id</th><th>Created</th><th>Revoked</th></tr>
{% for k in m.api_keys %}<tr class="{{ 'revoked' if k.revoked_at else 'active' }}"><td>{{ k.label }}</td>
<td>{{ k.service }}</td><td>{{ k.key_id }}</td><td>{{ k.created_at }}</td><td>{{ k.revoked_at or '' }}</td></tr>
{% else %}<tr><td colspan="5">No API keys</td></tr>{% endfor %}</table></section>
{% else %}<p>No merchants.</p>{% endfor %}</body></html>""")


def build_backoffice_router() -> APIRouter:
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    async def back_office(request: Request) -> HTMLResponse:
        state: CloudPosState = request.app.state.cloudpos
        merchants = [
            {"merchant": m, "stores": state.stores_of(m.merchant_id),
             "api_keys": [k.public() for k in state.keys_of(m.merchant_id)]}
            for m in sorted(state.merchants.values(), key=lambda m: m.name)
        ]
        return HTMLResponse(_TEMPLATE.render(merchants=merchants))

    return router
