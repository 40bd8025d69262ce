"""HTML of the login, consent, error and invoices pages (inline Jinja2, inline CSS, nothing fetched from the
internet)."""

from __future__ import annotations

from fastapi.responses import HTMLResponse
from jinja2 import DictLoader, Environment, select_autoescape

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{% block title %}Xero{% endblock %} | Xero (sandbox)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;background:#f3f6f8;color:#1e2a33;margin:0}
main{max-width:440px;margin:48px auto;background:#fff;border-radius:8px;padding:32px;
box-shadow:0 2px 8px rgba(0,0,0,.08)}
h1{font-size:22px;margin:0 0 16px}.brand{color:#13b5ea;font-weight:700;letter-spacing:.5px;margin-bottom:16px}
label{display:block;font-weight:600;margin:14px 0 4px}input[type=email],input[type=password],select{width:100%;
padding:10px;border:1px solid #b8c4cc;border-radius:4px;box-sizing:border-box;font-size:15px}
button{padding:10px 18px;border-radius:4px;border:1px solid #13b5ea;font-size:15px;cursor:pointer;margin-top:20px}
.primary{background:#13b5ea;color:#fff}.secondary{background:#fff;color:#13b5ea}
.error{background:#fdecea;color:#8a1c1c;padding:10px;border-radius:4px;margin:10px 0}
ul{padding-left:20px}.muted{color:#5a6b77;font-size:13px}.org{display:block;font-weight:400;margin:6px 0}
main.wide{max-width:960px}table{border-collapse:collapse;width:100%;margin:8px 0 28px}
th,td{text-align:left;padding:8px;border-bottom:1px solid #dde3e7}td.num,th.num{text-align:right}
h2{font-size:18px;margin:24px 0 8px}
</style></head><body><main class="{% block main_class %}{% endblock %}"><div class="brand">xero</div>
{% block body %}{% endblock %}</main></body></html>"""

_LOGIN = """{% extends "base" %}{% block title %}Log in{% endblock %}{% block body %}
<h1>Log in to Xero</h1>
{% if error %}<div class="error" role="alert">{{ error }}</div>{% endif %}
<form method="post" action="/identity/user/login">
<input type="hidden" name="ReturnUrl" value="{{ return_url }}">
<label for="email">Email address</label><input id="email" type="email" name="email" value="{{ email }}" required>
<label for="password">Password</label><input id="password" type="password" name="password" required>
<button class="primary" type="submit">Log in</button></form>{% endblock %}"""

_CONSENT = """{% extends "base" %}{% block title %}Allow access{% endblock %}{% block body %}
<h1>{{ app_name }} wants to access your Xero data</h1>
<p>{{ app_name }} will be able to:</p><ul>{% for s in scopes %}<li>{{ s }}</li>{% endfor %}</ul>
{% if error %}<div class="error" role="alert">{{ error }}</div>{% endif %}
<form method="post" action="/identity/connect/consent">
<input type="hidden" name="txn" value="{{ txn }}">
{% if orgs %}<label for="tenant">Select an organisation</label>
{% if multi %}{% for o in orgs %}<label class="org"><input type="checkbox" name="tenant_id" value="{{ o.id }}">
 {{ o.name }}{% if o.connected %} (already connected){% endif %}</label>{% endfor %}
{% else %}<select id="tenant" name="tenant_id">{% for o in orgs %}<option value="{{ o.id }}">{{ o.name }}
{%- if o.connected %} (already connected){% endif %}</option>{% endfor %}</select>{% endif %}
{% else %}<p class="muted">You have no organisations that can be connected.</p>{% endif %}
<div><button class="primary" type="submit" name="action" value="allow">Allow access</button>
<button class="secondary" type="submit" name="action" value="cancel">Cancel</button></div>
</form><p class="muted">Signed in as {{ email }}</p>{% endblock %}"""

_ERROR = """{% extends "base" %}{% block title %}Error{% endblock %}{% block body %}
<h1>Sorry, something went wrong</h1>
<p>Error code: {{ code }}</p><p>Error: {{ error }} : {{ description }}</p>
<p class="muted">Request id: {{ request_id }}</p>{% endblock %}"""

_INVOICES = """{% extends "base" %}{% block title %}Invoices{% endblock %}{% block main_class %}wide{% endblock %}
{% block body %}<h1>Invoices</h1><p class="muted">Signed in as {{ email }}</p>
{% for org in orgs %}<section aria-labelledby="org-{{ loop.index }}">
<h2 id="org-{{ loop.index }}">{{ org.name }}</h2>
{% if org.invoices %}<table aria-labelledby="org-{{ loop.index }}"><thead><tr>
<th scope="col">Number</th><th scope="col">Contact</th><th scope="col">Date</th><th scope="col">Reference</th>
<th scope="col" class="num">Total</th><th scope="col">Status</th></tr></thead><tbody>
{% for i in org.invoices %}<tr><td>{{ i.number }}</td><td>{{ i.contact }}</td><td>{{ i.date }}</td>
<td>{{ i.reference }}</td><td class="num">{{ i.total }}</td>
<td>{{ i.status }} <span class="muted">{{ i.code }}</span></td></tr>{% endfor %}
</tbody></table>{% else %}<p>No invoices yet.</p>{% endif %}</section>
{% else %}<p>You have no organisations.</p>{% endfor %}{% endblock %}"""

_env = Environment(loader=DictLoader({"base": _BASE, "login": _LOGIN, "consent": _CONSENT, "error": _ERROR,
                                      "invoices": _INVOICES}),
                   autoescape=select_autoescape(default=True, default_for_string=True))


def render(name: str, http_status: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(_env.get_template(name).render(**context), status_code=http_status,
                        headers={"Cache-Control": "no-store"})


def error_page(error: str, description: str, request_id: str) -> HTMLResponse:
    """Xero shows its own 500 page for bad client_id/redirect_uri/scope and never redirects."""
    return render("error", 500, code=500, error=error, description=description, request_id=request_id)
