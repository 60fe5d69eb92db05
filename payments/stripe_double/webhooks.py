"""Sign and post one webhook delivery the way Stripe does."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import time
import urllib.error
import urllib.request
from typing import Any


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Treat a redirect as a failed delivery, as Stripe does."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxies either: webhook targets are local addresses.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    """Return the Stripe-Signature header value for `payload` at `timestamp`."""
    signed = f"{timestamp}.{payload}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def post_event(
    url: str, payload: str, secret: str, *, timeout: float
) -> tuple[int | None, str | None]:
    """POST a signed payload; return the status (None if unreachable) and error."""
    try:
        request = urllib.request.Request(
            url,
            data=payload.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": signature_header(payload, secret, int(time.time())),
                "Cache-Control": "no-cache",
            },
        )
        with _OPENER.open(request, timeout=timeout) as answer:
            answer.read()
            return answer.status, None
    except urllib.error.HTTPError as error:
        error.close()
        return error.code, None
    except (OSError, ValueError, http.client.HTTPException) as error:
        return None, f"{type(error).__name__}: {error}"
