"""HTML of the sign-in, error and signed-out pages (inline Jinja2 and CSS; nothing fetched from the internet)."""

from __future__ import annotations

from fastapi.responses import HTMLResponse
from jinja2 import DictLoader, Environment, select_autoescape

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{% block title %}{% endblock %} | Cloud POS staff sign-in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;background:#eef1f5;color:#1d2733;margin:0}
main{max-width:420px;margin:56px auto;background:#fff;border-radius:8px;padding:32px;
box-shadow:0 2px 8px rgba(0,0,0,.08)}
h1{font-size:22px;margin:0 0 16px}.brand{color:#3b5bdb;font-weight:700;margin-bottom:16px}
label{display:block;font-weight:600;margin:14px 0 4px}input{width:100%;padding:10px;border:1px solid #b6c0cc;
border-radius:4px;box-sizing:border-box;font-size:15px}
button{padding:10px 18px;border-radius:4px;border:0;background:#3b5bdb;color:#fff;font-size:15px;cursor:pointer;
margin-top:20px}.error{background:#fdecea;color:#8a1c1c;padding:10px;border-radius:4px;margin:10px 0}
.muted{color:#5a6775;font-size:13px}
</style></head><body><main><div class="brand">Cloud POS staff</div>
{% block body %}{% endblock %}</main></body></html>"""

_LOGIN = """{% extends "base" %}{% block title %}Sign in{% endblock %}{% block body %}
<h1>Sign in to Cloud POS staff</h1>
{% if error %}<div class="error" role="alert">{{ error }}</div>{% endif %}
<form method="post" action="/login">
<input type="hidden" name="txn" value="{{ txn }}">
<label for="email">Email address</label>
<input id="email" type="email" name="email" value="{{ email }}" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" type="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>
<p class="muted">Signing in to {{ client_id }}</p>{% endblock %}"""

_ERROR = """{% extends "base" %}{% block title %}Error{% endblock %}{% block body %}
<h1>Sign-in cannot continue</h1>
<div class="error" role="alert"><p>{{ error }}</p><p>{{ description }}</p></div>
<p class="muted">Go back to the application and try again.</p>{% endblock %}"""

_SIGNED_OUT = """{% extends "base" %}{% block title %}Signed out{% endblock %}{% block body %}
<h1>You have signed out</h1><p>You can close this window.</p>{% endblock %}"""

_env = Environment(loader=DictLoader({"base": _BASE, "login": _LOGIN, "error": _ERROR, "signed_out": _SIGNED_OUT}),
                   autoescape=select_autoescape(default=True, default_for_string=True))

# No form-action in the CSP: Chromium applies it to the redirect after the form, which goes to the client.
_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"}


def render(name: str, http_status: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(_env.get_template(name).render(**context), status_code=http_status, headers=_HEADERS)


def error_page(error: str, description: str) -> HTMLResponse:
    """For requests the IdP must not redirect back (an unknown client or redirect URI, RFC 6749 §4.1.2.1)."""
    return render("error", 400, error=error, description=description)
