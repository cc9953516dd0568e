"""The public unsubscribe pages: ``GET /unsubscribe/{token}`` asks, ``POST`` does it.

No login, no cookies, no script and nothing loaded from elsewhere (the CSP says so). A
GET never unsubscribes: link scanners and previews open URLs (RFC 8058 section 1). The
POST is what Gmail and Yahoo send (``List-Unsubscribe=One-Click``, form-encoded) and what
the page's button sends; its body is not needed and is limited to a few bytes
(api/app.py). An unknown or altered token is a 404 page of the same look, never a 500.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from mailplane.api.deps import SessionDep, SettingsDep
from mailplane.models import utcnow
from mailplane.unsubscribe import service, tokens

router = APIRouter(prefix="/unsubscribe", tags=["unsubscribe"], include_in_schema=False)

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;"
    "color:#222}button{font-size:1rem;padding:.5rem 1.25rem;cursor:pointer}"
)


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def _not_found() -> HTMLResponse:
    return _page(
        "Link not valid",
        "<p>This unsubscribe link is not valid. Use the link in the message itself, unchanged.</p>",
        404,
    )


def _what(subject: service.Subject | service.Unsubscribed) -> str:
    address = f"<strong>{escape(subject.address)}</strong>"
    if subject.list_id:
        return f"{address} from the list <strong>{escape(subject.list_id)}</strong>"
    return f"{address} from this sender's mailings"


@router.get("/{token}", response_class=HTMLResponse)
def ask(token: str, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    delivery_id = tokens.verify(tokens.derive_key(settings.effective_secret()), token)
    subject = service.subject_of(session, delivery_id) if delivery_id is not None else None
    if subject is None:
        return _not_found()
    return _page(
        "Unsubscribe",
        f"<p>Unsubscribe {_what(subject)}?</p>"
        '<form method="post"><button type="submit">Unsubscribe</button></form>',
    )


@router.post("/{token}", response_class=HTMLResponse)
def unsubscribe(token: str, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    delivery_id = tokens.verify(tokens.derive_key(settings.effective_secret()), token)
    done = (
        service.unsubscribe(session, delivery_id, "one-click", utcnow())
        if delivery_id is not None
        else None
    )
    if done is None:
        return _not_found()
    return _page("Unsubscribed", f"<p>Done: {_what(done)}. You will not get them any more.</p>")
