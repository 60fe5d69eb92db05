"""A local stand-in for the Stripe the shop uses: API, hosted page, webhooks."""

from __future__ import annotations

import copy
import json
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .checkout_sessions import (
    DEFAULT_COUNTRY,
    DEFAULT_NAME,
    NO_ADDRESS,
    Shopper,
    choose_shipping_rate,
    complete_checkout_session,
    customer_details,
    line_item_objects,
    new_checkout_session,
    shopper_problem,
    shopper_with_defaults,
)
from .events import (
    API_VERSION,
    PAYLOADS,
    snapshot_event,
    thin_event,
    thin_notification,
)
from .hosted_page import money, render_checkout, render_not_found
from .params import (
    ACCEPTED_PARAMS,
    DELAYED_PAYMENT_METHOD_TYPES,
    ApiError,
    InvalidParam,
    decode_form,
    expansions,
    integer,
    metadata_hash,
    reject_unknown,
    string,
    validate_session_params,
)
from .payment_intents import (
    CANCELABLE_STATUSES,
    CANCELLATION_REASONS,
    new_id,
    new_payment,
    payment_fail,
    payment_succeed,
)
from .refunds import (
    DISPUTE_REASONS,
    REFUND_REASONS,
    list_object,
    new_dispute,
    new_refund,
    refundable_amount,
)
from .shipping import (
    allowed_countries,
    new_shipping_rate,
    phone_number_collection,
    shipping_options,
    shipping_rate_data,
)
from .webhooks import post_event

DEFAULT_API_KEY = "sk_test_local_double"
DEFAULT_WEBHOOK_SECRET = "whsec_local_double"
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (1, 2, 4, 8, 16)
DEFAULT_EMAIL = "shopper@example.com"
# Stripe holds the shopper on the page until the webhook answers, for a while.
REDIRECT_WAIT_SECONDS = 10.0

_API_KEY = re.compile(r"(sk|rk)_(test|live)_[A-Za-z0-9_]{4,}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# "GET /v1/charges/{id}" matches "GET /v1/charges/ch_123", capturing the id.
_ROUTES = {
    route: re.compile(re.escape(route).replace(re.escape("{id}"), "([^/]+)"))
    for route in ACCEPTED_PARAMS
}
# Which collection an id belongs to, for expansions.
_OBJECT_NAMES = {
    "cs_": "checkout.session",
    "pi_": "payment_intent",
    "ch_": "charge",
    "shr": "shipping_rate",
    "re_": "refund",
    "dp_": "dispute",
}
_PAGE_PATH = re.compile(r"/c/pay/([^/]+)")
_CONTROL_SESSION_PATH = re.compile(r"/_double/sessions/([^/]+)/(pay|settle|expire)")
_CONTROL_REFUND_PATH = re.compile(r"/_double/refunds/([^/]+)/settle")
_CONTROL_DISPUTE_PATH = re.compile(r"/_double/disputes/([^/]+)/close")
_NO_KEY_MESSAGE = (
    "You did not provide an API key. You need to provide your API key in the "
    "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
    "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
    "or we can help at https://support.stripe.com/."
)
_INJECTED = "(injected by the local Stripe double)"
_FAULTS: dict[int, tuple[str, str | None, str]] = {
    401: ("invalid_request_error", None, f"Invalid API Key provided {_INJECTED}."),
    402: ("card_error", "card_declined", "Your card was declined."),
    403: ("invalid_request_error", "secret_key_required", f"Forbidden {_INJECTED}."),
    404: ("invalid_request_error", "resource_missing", f"No such object {_INJECTED}."),
    409: (
        "invalid_request_error",
        "lock_timeout",
        "This object cannot be accessed right now because another API request or "
        f"Stripe process is currently accessing it {_INJECTED}.",
    ),
    429: (
        "invalid_request_error",
        "rate_limit",
        f"Request rate limit exceeded {_INJECTED}.",
    ),
}


class SessionStateError(ValueError):
    """The session is not in a state that allows the action."""


@dataclass
class Request:
    method: str
    path: str
    query: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class StripeDouble:
    """Serve Checkout Sessions, a hosted payment page and signed webhook events."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str | None = None,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        retry_delays: Iterable[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        self.host = host
        self.port = port
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.retry_delays = tuple(retry_delays)
        self.webhook_timeout = 10.0
        self.log_requests = False
        self.duplicate_deliveries = False
        self.delivery_delay = 0.0
        self.event_payloads = "snapshot"
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._url: str | None = None
        self._server_thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []
        self._generation = 0
        self._clear()

    def _clear(self) -> None:
        self._sessions: dict[str, dict[str, Any]] = {}
        self._line_items: dict[str, list[dict[str, Any]]] = {}
        self._line_item_objects: dict[str, list[dict[str, Any]]] = {}
        self._payment_intents: dict[str, dict[str, Any]] = {}
        self._charges: dict[str, dict[str, Any]] = {}
        self._shipping_rates: dict[str, dict[str, Any]] = {}
        self._refunds: dict[str, dict[str, Any]] = {}
        self._disputes: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._thin_events: dict[str, dict[str, Any]] = {}
        self._deliveries: list[dict[str, Any]] = []
        self._requests: list[dict[str, Any]] = []
        self._faults: deque[tuple[int | None, float | None]] = deque()
        self._revoked: set[str] = set()
        self._idempotent: dict[tuple[str, str], tuple[Any, int, bytes, str]] = {}
        self._held: list[dict[str, Any]] = []
        self._holding = False
        # In-flight deliveries from before a reset see the new generation and stop.
        self._generation += 1

    # Lifecycle

    @property
    def url(self) -> str:
        """Return the base URL the double serves (or last served) on."""
        if self._url is None:
            raise RuntimeError("The Stripe double has not started: call start().")
        return self._url

    def start(self) -> StripeDouble:
        """Listen on host:port and serve requests in a background thread."""
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler)
        self._server.double = self
        self._url = f"http://{self.host}:{self._server.server_address[1]}"
        self._server_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="stripe-double-http",
            daemon=True,
        )
        self._server_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and end webhook workers."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._server_thread is not None:
            self._server_thread.join()
        deadline = time.monotonic() + 2
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._server = None

    def __enter__(self) -> StripeDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Knobs for tests

    def fail_next(
        self, count: int = 1, status: int | None = 500, hang: float | None = None
    ) -> None:
        """Make the next `count` API calls fail with `status`, after `hang` seconds."""
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status, not {status}")
        with self._lock:
            self._faults.extend([(status, hang)] * count)

    def revoke_key(self, api_key: str) -> None:
        """Answer 401 to this API key from now on."""
        with self._lock:
            self._revoked.add(api_key)

    def hold_events(self) -> None:
        """Queue new events instead of delivering them."""
        with self._lock:
            self._holding = True

    def release_events(self, order: str = "fifo") -> None:
        """Stop holding and deliver the queued events in `order` ("fifo", "reverse")."""
        if order not in ("fifo", "reverse"):
            raise ValueError(f"order must be 'fifo' or 'reverse', not {order!r}")
        with self._lock:
            events, self._held, self._holding = self._held, [], False
        if order == "reverse":
            events.reverse()
        self._spawn(self._deliver_in_order, events)

    def reset(self) -> None:
        """Forget sessions, events, deliveries, requests, faults and idempotency."""
        with self._lock:
            self._clear()
            self.duplicate_deliveries = False
            self.delivery_delay = 0.0
            self.event_payloads = "snapshot"
            self._changed.notify_all()

    def wait_for_deliveries(self, count: int, timeout: float = 5) -> None:
        """Block until `count` deliveries have succeeded in total."""

        def succeeded() -> int:
            return sum(1 for d in self._deliveries if _is_success(d["status"]))

        with self._changed:
            if not self._changed.wait_for(lambda: succeeded() >= count, timeout):
                raise TimeoutError(
                    f"{succeeded()} of {count} webhook deliveries succeeded within "
                    f"{timeout}s; attempts so far: {self._deliveries}"
                )

    @property
    def sessions(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._sessions)

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._events)

    @property
    def thin_events(self) -> list[dict[str, Any]]:
        """Return the v2 events, as GET /v2/core/events/{id} serves them."""
        with self._lock:
            return copy.deepcopy(list(self._thin_events.values()))

    @property
    def payment_intents(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._payment_intents)

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._deliveries)

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._requests)

    # What the shopper and time do to a session

    def pay(
        self,
        session_id: str,
        *,
        delayed: bool = False,
        email: str = DEFAULT_EMAIL,
        name: str = DEFAULT_NAME,
        country: str = DEFAULT_COUNTRY,
        address: dict[str, Any] | None = None,
        phone: str | None = None,
        shipping_rate: str | None = None,
    ) -> dict[str, Any]:
        """Complete the session as the Pay button does, waiting for the webhook.

        What the session collects and the test leaves out is filled in: an
        address in the first country it ships to, a phone number, the first rate.
        """
        with self._lock:
            session = self._open_session(session_id)
            shopper = shopper_with_defaults(
                session,
                Shopper(
                    email=email,
                    name=name,
                    country=country,
                    address=address,
                    phone=phone,
                    shipping_rate=shipping_rate,
                ),
            )
            problem = shopper_problem(session, shopper)
            if problem:
                raise ValueError(problem)
            session, first_attempts = self._complete(
                session_id, shopper, delayed=delayed
            )
        first_attempts.wait(REDIRECT_WAIT_SECONDS)
        return session

    def settle(
        self, session_id: str, *, succeeded: bool = True, notify: bool = True
    ) -> dict[str, Any]:
        """Settle a delayed payment and emit async_payment_succeeded or _failed.

        With notify=False the payment settles without any event, as when a
        webhook is lost: only the PaymentIntent and its charge tell.
        """
        with self._lock:
            session = self._session(session_id)
            payment_intent = self._payment_intents.get(session["payment_intent"] or "")
            if payment_intent is None or payment_intent["status"] != "processing":
                raise SessionStateError(f"{session_id} has no payment to settle")
            charge = self._charges[payment_intent["latest_charge"]]
            if succeeded:
                payment_succeed(payment_intent, charge)
                session["payment_status"] = "paid"
            else:
                payment_fail(payment_intent, charge)
            if notify:
                outcome = "succeeded" if succeeded else "failed"
                self._emit(f"checkout.session.async_payment_{outcome}", session)
            return copy.deepcopy(session)

    def expire(self, session_id: str) -> dict[str, Any]:
        """Expire an open session as if its expires_at had passed."""
        with self._lock:
            session = self._open_session(session_id)
            self._expire(session)
            return copy.deepcopy(session)

    # What the dashboard and the banks do: refunds and disputes

    def refund(
        self,
        payment_id: str,
        *,
        amount: int | None = None,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Refund from the dashboard: a refund the shop did not ask for.

        `payment_id` is a PaymentIntent's id or its Checkout Session's.
        """
        with self._lock:
            charge = self._charge_of(payment_id)
            if reason is not None and reason not in REFUND_REASONS:
                raise ValueError(f"reason must be one of {', '.join(REFUND_REASONS)}")
            dashboard = {"id": new_id("req_", 14), "idempotency_key": None}
            try:
                refund = self._refund(charge, amount, reason, metadata or {}, dashboard)
            except ApiError as error:
                raise ValueError(error.message) from None
            return copy.deepcopy(refund)

    def settle_refund(self, refund_id: str, *, succeeded: bool = True) -> dict:
        """Settle a pending (bank debit) refund: refund.updated, and refund.failed."""
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None:
                raise KeyError(f"No such refund: {refund_id!r}")
            if refund["status"] != "pending":
                raise SessionStateError(f"{refund_id} is {refund['status']}")
            if succeeded:
                refund["status"] = "succeeded"
            else:
                charge = self._charges[refund["charge"]]
                charge["amount_refunded"] -= refund["amount"]
                charge["refunded"] = False
                refund.update(status="failed", failure_reason="declined")
                refund["failure_balance_transaction"] = new_id("txn_")
            previous = {"status": "pending"}
            self._emit("refund.updated", refund, previous_attributes=previous)
            if not succeeded:
                self._emit("refund.failed", refund, previous_attributes=previous)
            return copy.deepcopy(refund)

    def dispute(
        self, payment_id: str, *, reason: str = "fraudulent", amount: int | None = None
    ) -> dict[str, Any]:
        """Dispute a payment as the shopper's bank does: charge.dispute.created."""
        with self._lock:
            charge = self._charge_of(payment_id)
            if reason not in DISPUTE_REASONS:
                raise ValueError(f"reason must be one of {', '.join(DISPUTE_REASONS)}")
            if self._open_dispute(charge["id"]):
                raise SessionStateError(f"{charge['id']} is already disputed")
            amount = charge["amount"] if amount is None else int(amount)
            if not 0 < amount <= charge["amount"]:
                raise ValueError(f"amount must be between 1 and {charge['amount']}")
            dispute = new_dispute(
                charge=charge, amount=amount, reason=reason, now=int(time.time())
            )
            self._disputes[dispute["id"]] = dispute
            charge["disputed"] = True
            self._emit("charge.dispute.created", dispute)
            return copy.deepcopy(dispute)

    def close_dispute(self, dispute_id: str, *, won: bool) -> dict[str, Any]:
        """Close a dispute, won or lost: charge.dispute.closed."""
        with self._lock:
            dispute = self._disputes.get(dispute_id)
            if dispute is None:
                raise KeyError(f"No such dispute: {dispute_id!r}")
            if dispute["status"] in ("won", "lost"):
                raise SessionStateError(f"{dispute_id} is already {dispute['status']}")
            previous = {"status": dispute["status"]}
            dispute["status"] = "won" if won else "lost"
            self._emit("charge.dispute.closed", dispute, previous_attributes=previous)
            return copy.deepcopy(dispute)

    def _charge_of(self, payment_id: str) -> dict[str, Any]:
        if payment_id.startswith("cs_"):
            payment_id = self._session(payment_id)["payment_intent"] or ""
        payment_intent = self._payment_intents.get(payment_id)
        if payment_intent is None:
            raise KeyError(f"No payment {payment_id!r}")
        charge = self._charges[payment_intent["latest_charge"]]
        if charge["status"] != "succeeded":
            raise SessionStateError(f"{payment_id} has no successful charge")
        return charge

    def _open_dispute(self, charge_id: str) -> dict[str, Any] | None:
        for dispute in self._disputes.values():
            if dispute["charge"] == charge_id and dispute["status"] not in (
                "won",
                "lost",
            ):
                return dispute
        return None

    def _refund(
        self,
        charge: dict[str, Any],
        amount: int | None,
        reason: str | None,
        metadata: dict[str, str],
        request: dict[str, Any],
    ) -> dict[str, Any]:
        left = refundable_amount(charge)
        if self._open_dispute(charge["id"]):
            raise ApiError(
                400,
                f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                code="charge_disputed",
            )
        if left == 0:
            raise ApiError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = left if amount is None else amount
        if amount > left:
            currency = charge["currency"]
            raise ApiError(
                400,
                f"Refund amount ({money(amount, currency)}) is greater than "
                f"unrefunded amount on charge ({money(left, currency)})",
                param="amount",
                code="amount_too_large",
            )
        refund = new_refund(
            charge=charge,
            amount=amount,
            reason=reason,
            metadata=metadata,
            now=int(time.time()),
        )
        self._refunds[refund["id"]] = refund
        previous = {
            "amount_refunded": charge["amount_refunded"],
            "refunded": charge["refunded"],
        }
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        self._emit("refund.created", refund, request)
        self._emit("charge.refunded", charge, request, previous_attributes=previous)
        return refund

    # The state behind those controls and the API

    def _complete(
        self, session_id: str, shopper: Shopper, *, delayed: bool
    ) -> tuple[dict[str, Any], _Attempts]:
        with self._lock:
            session = self._open_session(session_id)
            method_type = _method_type(session, delayed)
            email = session["customer_email"] or shopper.email
            if shopper.shipping_rate:
                choose_shipping_rate(
                    session, self._shipping_rates[shopper.shipping_rate]
                )
            shipping_details = None
            if shopper.address is not None:
                address = {**NO_ADDRESS, **shopper.address}
                shipping_details = {"address": address, "name": shopper.name}
            else:
                address = {**NO_ADDRESS, "country": shopper.country}
            payment_intent, charge = new_payment(
                amount=session["amount_total"],
                currency=session["currency"],
                method_type=method_type,
                delayed=delayed,
                billing_details={
                    "address": address,
                    "email": email,
                    "name": shopper.name,
                    "phone": shopper.phone,
                },
                shipping=shipping_details
                and {
                    **shipping_details,
                    "carrier": None,
                    "phone": shopper.phone,
                    "tracking_number": None,
                },
                now=int(time.time()),
            )
            self._payment_intents[payment_intent["id"]] = payment_intent
            self._charges[charge["id"]] = charge
            complete_checkout_session(
                session,
                details=customer_details(
                    email=email, name=shopper.name, address=address, phone=shopper.phone
                ),
                payment_intent_id=payment_intent["id"],
                paid=not delayed,
                shipping_details=shipping_details,
            )
            first_attempts = self._emit("checkout.session.completed", session)
            return copy.deepcopy(session), first_attempts

    def _expire(
        self, session: dict[str, Any], request: dict[str, Any] | None = None
    ) -> None:
        session.update(status="expired", url=None)
        self._emit("checkout.session.expired", session, request)

    def _session(self, session_id: str) -> dict[str, Any]:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise KeyError(f"No such checkout.session: {session_id!r}") from None

    def _open_session(self, session_id: str) -> dict[str, Any]:
        session = self._session(session_id)
        if session["status"] != "open":
            raise SessionStateError(f"{session_id} is {session['status']}, not open")
        return session

    # Events and webhook delivery

    def _emit(
        self,
        event_type: str,
        data_object: dict[str, Any],
        request: dict[str, Any] | None = None,
        previous_attributes: dict[str, Any] | None = None,
    ) -> _Attempts:
        """Record an event and start delivering it; return "first attempts done"."""
        now = time.time()
        event = snapshot_event(
            event_type,
            data_object,
            now=now,
            request=request,
            previous_attributes=previous_attributes,
        )
        payloads = [event] if self.event_payloads != "thin" else []
        with self._lock:
            self._events.append(event)
            if self.event_payloads in ("thin", "both"):
                thin = thin_event(event, now=now)
                self._thin_events[thin["id"]] = thin
                payloads.append(thin_notification(thin))
            self._changed.notify_all()
            if self._holding:
                self._held.extend(payloads)
                return _Attempts([])
            return _Attempts([self._dispatch(payload) for payload in payloads])

    def _dispatch(self, event: dict[str, Any]) -> threading.Event:
        first_attempt = threading.Event()
        if not self.webhook_url or self._stopping.is_set():
            first_attempt.set()
            return first_attempt
        for copy_number in range(2 if self.duplicate_deliveries else 1):
            done = first_attempt if copy_number == 0 else threading.Event()
            self._spawn(
                self._deliver, event, done, self.delivery_delay, self._generation
            )
        return first_attempt

    def _deliver_in_order(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            with self._lock:
                first_attempt = self._dispatch(event)
            first_attempt.wait(self.webhook_timeout + 1)
            if self._stopping.is_set():
                return

    def _deliver(
        self,
        event: dict[str, Any],
        first_attempt: threading.Event,
        delay: float,
        generation: int,
    ) -> None:
        delays = self.retry_delays
        try:
            if delay > 0:
                # A late webhook must not hold the shopper on the page.
                first_attempt.set()
                if self._stopping.wait(delay):
                    return
            for attempt in range(1, len(delays) + 2):
                with self._lock:
                    url = self.webhook_url
                    if self._generation != generation or not url:
                        return
                status = self._attempt(url, event, attempt)
                first_attempt.set()
                if _is_success(status) or attempt > len(delays):
                    return
                if self._stopping.wait(delays[attempt - 1]):
                    return
        finally:
            first_attempt.set()

    def _attempt(self, url: str, event: dict[str, Any], attempt: int) -> int | None:
        # Signed per attempt, as Stripe does, so retries carry a fresh timestamp.
        status, error = post_event(
            url,
            json.dumps(event, indent=2),
            self.webhook_secret,
            timeout=self.webhook_timeout,
        )
        with self._lock:
            self._deliveries.append(
                {
                    "event_id": event["id"],
                    "type": event["type"],
                    "status": status,
                    "attempt": attempt,
                    "error": error,
                    "at": time.time(),
                }
            )
            self._changed.notify_all()
        return status

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        worker = threading.Thread(
            target=target, args=args, name="stripe-double-webhook", daemon=True
        )
        with self._lock:
            if self._stopping.is_set():
                return
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
        worker.start()

    # HTTP

    def handle(self, request: Request) -> Response:
        """Answer one HTTP request."""
        if request.path.startswith(("/v1/", "/v2/")):
            return self._handle_api(request)
        if request.path.startswith("/c/pay/"):
            return self._handle_page(request)
        if request.path.startswith("/_double/"):
            return self._handle_control(request)
        if request.path == "/":
            return Response(200, b"Local Stripe double\n", "text/plain; charset=utf-8")
        return Response(404, b"Not found\n", "text/plain; charset=utf-8")

    def _handle_api(self, request: Request) -> Response:
        request_id = new_id("req_", 14)
        record: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "params": None,
            "headers": request.headers,
            "request_id": request_id,
            "status": None,
        }
        with self._lock:
            self._requests.append(record)
            fault = self._faults.popleft() if self._faults else None
        status, hang = fault or (None, None)
        if hang and self._stopping.wait(hang):
            status = 503
        if status is not None:
            response = _fault_response(status)
        else:
            try:
                api_key = self._authenticate(request.headers)
                form = request.query if request.method == "GET" else request.body
                params = decode_form(form.decode() if isinstance(form, bytes) else form)
                with self._lock:
                    record["params"] = params
                    response = self._execute(request, api_key, params, request_id)
            except ApiError as error:
                response = _error_response(error)
            except UnicodeDecodeError:
                response = _error_response(ApiError(400, "Invalid request body."))
        response.headers["Request-Id"] = request_id
        response.headers["Stripe-Version"] = API_VERSION
        with self._lock:
            record["status"] = response.status
        return response

    def _authenticate(self, headers: dict[str, str]) -> str:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        key = key.strip() if scheme.lower() == "bearer" else ""
        if not key:
            raise ApiError(401, _NO_KEY_MESSAGE)
        with self._lock:
            revoked = key in self._revoked
        if revoked or not _API_KEY.fullmatch(key):
            raise ApiError(401, f"Invalid API Key provided: {_redact(key)}")
        return key

    def _execute(
        self, request: Request, api_key: str, params: dict[str, Any], request_id: str
    ) -> Response:
        key = request.headers.get("idempotency-key")
        if request.method != "POST":
            key = None
        if key is None:
            return self._route(request, params, request_id)
        if len(key) > 255:
            raise ApiError(
                400,
                "Idempotency-Key must be at most 255 characters.",
                param="idempotency_key",
            )
        fingerprint = (request.method, request.path, params)
        stored = self._idempotent.get((api_key, key))
        if stored is not None:
            stored_fingerprint, status, body, original_request = stored
            if stored_fingerprint != fingerprint:
                raise ApiError(
                    400,
                    "Keys for idempotent requests can only be used with the same "
                    "parameters they were first used with. Try using a key other "
                    f"than '{key}' if you meant to execute a different request.",
                    error_type="idempotency_error",
                )
            return Response(
                status,
                body,
                headers={
                    "Idempotent-Replayed": "true",
                    "Original-Request": original_request,
                    **({"Stripe-Should-Retry": "false"} if status >= 400 else {}),
                },
            )
        try:
            response = self._route(request, params, request_id, idempotency_key=key)
        except ApiError as error:
            if not error.executed:
                raise
            response = _error_response(error)
        self._idempotent[(api_key, key)] = (
            fingerprint,
            response.status,
            response.body,
            request_id,
        )
        return response

    # API endpoints, as ACCEPTED_PARAMS lists them

    def _route(
        self,
        request: Request,
        params: dict[str, Any],
        request_id: str,
        idempotency_key: str | None = None,
    ) -> Response:
        handlers: dict[str, Callable[..., Response]] = {
            "POST /v1/checkout/sessions": self._create_session,
            "GET /v1/checkout/sessions/{id}": self._retrieve_session,
            "GET /v1/checkout/sessions/{id}/line_items": self._list_line_items,
            "POST /v1/checkout/sessions/{id}/expire": self._expire_session,
            "GET /v1/payment_intents/{id}": self._retrieve_payment_intent,
            "POST /v1/payment_intents/{id}/cancel": self._cancel_payment_intent,
            "GET /v1/charges/{id}": self._retrieve_charge,
            "POST /v1/shipping_rates": self._create_shipping_rate,
            "GET /v1/shipping_rates/{id}": self._retrieve_shipping_rate,
            "POST /v1/refunds": self._create_refund,
            "GET /v1/refunds": self._list_refunds,
            "GET /v1/refunds/{id}": self._retrieve_refund,
            "GET /v1/disputes/{id}": self._retrieve_dispute,
            "GET /v2/core/events/{id}": self._retrieve_v2_event,
        }
        for route, pattern in _ROUTES.items():
            match = pattern.fullmatch(f"{request.method} {request.path}")
            if match:
                reject_unknown(params, ACCEPTED_PARAMS[route])
                request_info = {"id": request_id, "idempotency_key": idempotency_key}
                return handlers[route](*match.groups(), params, request_info)
        raise ApiError(
            404,
            f"Unrecognized request URL ({request.method}: {request.path}). Please "
            "see https://stripe.com/docs or we can help at "
            "https://support.stripe.com/.",
        )

    def _retrieve_session(
        self, session_id: str, params: dict[str, Any], request_info: dict[str, Any]
    ) -> Response:
        session = self._api_session(session_id)
        return _json(200, self._expand_session(session, expansions(params)))

    def _list_line_items(
        self, session_id: str, params: dict[str, Any], request_info: dict[str, Any]
    ) -> Response:
        self._api_session(session_id)
        items = self._line_item_objects[session_id]
        limit = 10
        if "limit" in params:
            limit = integer(params, "limit", minimum=1, maximum=100)
        after = string(params, "starting_after")
        if after is not None:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise InvalidParam(f"No such line item: '{after}'", "starting_after")
            items = items[ids.index(after) + 1 :]
        url = f"/v1/checkout/sessions/{session_id}/line_items"
        return _json(200, list_object(url, items[:limit], len(items) > limit))

    def _expand_session(
        self, session: dict[str, Any], paths: list[str]
    ) -> dict[str, Any]:
        """Expand a session; line_items, which it does not hold, comes as a list."""
        expanded = self._expand(session, [p for p in paths if p != "line_items"])
        if "line_items" in paths:
            items = self._line_item_objects[session["id"]]
            url = f"/v1/checkout/sessions/{session['id']}/line_items"
            expanded["line_items"] = list_object(url, items[:10], len(items) > 10)
        return expanded

    def _expire_session(
        self, session_id: str, params: dict[str, Any], request_info: dict[str, Any]
    ) -> Response:
        session = self._api_session(session_id)
        if session["status"] != "open":
            raise ApiError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be '
                f"expired. This session has status {session['status']!r}.",
                executed=True,
            )
        self._expire(session, request_info)
        return _json(200, self._expand_session(session, expansions(params)))

    def _retrieve_payment_intent(
        self, object_id: str, params: dict[str, Any], request_info: dict[str, Any]
    ) -> Response:
        found = self._lookup(object_id, "payment_intent", param="intent")
        return _json(200, self._expand(found, expansions(params)))

    def _retrieve_charge(
        self, object_id: str, params: dict[str, Any], request_info: dict[str, Any]
    ) -> Response:
        found = self._lookup(object_id, "charge", param="charge")
        return _json(200, self._expand(found, expansions(params)))

    def _retrieve_v2_event(
        self, event_id: str, params: dict[str, Any], request_info: dict[str, Any]
    ) -> Response:
        event = self._thin_events.get(event_id)
        if event is None:
            raise ApiError(
                404, f"No such v2.core.event: '{event_id}'", code="resource_missing"
            )
        return _json(200, event)

    def _api_session(self, session_id: str) -> dict[str, Any]:
        return self._lookup(session_id, "checkout.session", param="session")

    def _lookup(
        self, object_id: str, object_name: str, *, param: str = "id"
    ) -> dict[str, Any]:
        collections = {
            "checkout.session": self._sessions,
            "payment_intent": self._payment_intents,
            "charge": self._charges,
            "shipping_rate": self._shipping_rates,
            "refund": self._refunds,
            "dispute": self._disputes,
        }
        found = collections[object_name].get(object_id)
        if found is None:
            raise ApiError(
                404,
                f"No such {object_name}: '{object_id}'",
                param=param,
                code="resource_missing",
            )
        return found

    def _expand(self, found: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        """Return a copy of an object with the ids at `paths` replaced by objects."""
        expanded = copy.deepcopy(found)
        for path in paths:
            keys = path.split(".")
            node = expanded
            for depth, key in enumerate(keys):
                value = node.get(key) if isinstance(node, dict) else None
                last = depth == len(keys) - 1
                if value is None and isinstance(node, dict) and key in node:
                    break
                if isinstance(value, str) and value[:3] in _OBJECT_NAMES:
                    value = copy.deepcopy(self._lookup(value, _OBJECT_NAMES[value[:3]]))
                    node[key] = value
                elif not isinstance(value, dict) or (last and "object" not in value):
                    shown = ".".join(keys[: depth + 1])
                    raise InvalidParam(
                        f"This property cannot be expanded ({shown}).", "expand"
                    )
                node = value
        return expanded

    def _cancel_payment_intent(
        self,
        payment_intent_id: str,
        params: dict[str, Any],
        request_info: dict[str, Any],
    ) -> Response:
        expand = expansions(params)
        reason = params.get("cancellation_reason")
        if reason is not None and reason not in CANCELLATION_REASONS:
            raise InvalidParam(
                "Invalid cancellation_reason: must be one of "
                f"{', '.join(CANCELLATION_REASONS)}",
                "cancellation_reason",
            )
        payment_intent = self._lookup(
            payment_intent_id, "payment_intent", param="intent"
        )
        if payment_intent["status"] not in CANCELABLE_STATUSES:
            raise ApiError(
                400,
                "You cannot cancel this PaymentIntent because it has a status of "
                f"{payment_intent['status']}. Only a PaymentIntent with one of the "
                "following statuses may be canceled: "
                f"{', '.join(CANCELABLE_STATUSES)}.",
                code="payment_intent_unexpected_state",
                executed=True,
            )
        payment_intent.update(
            status="canceled",
            canceled_at=int(time.time()),
            cancellation_reason=reason,
        )
        return _json(200, self._expand(payment_intent, expand))

    def _create_session(
        self, params: dict[str, Any], request_info: dict[str, Any]
    ) -> Response:
        now = int(time.time())
        fields, items = validate_session_params(params, now=now)
        fields["allowed_countries"] = allowed_countries(params)
        fields["phone_number_collection"] = phone_number_collection(params)
        rates = self._shipping_rates_for(
            shipping_options(params), items[0]["currency"], now=now
        )
        session_id = new_id("cs_test_", 58)
        session = new_checkout_session(
            session_id=session_id,
            url=f"{self.url}/c/pay/{session_id}",
            fields=fields,
            line_items=items,
            shipping_rates=rates,
            now=now,
        )
        for rate in rates:
            self._shipping_rates.setdefault(rate["id"], rate)
        self._line_items[session_id] = items
        self._line_item_objects[session_id] = line_item_objects(items, now=now)
        self._sessions[session_id] = session
        return _json(200, self._expand_session(session, fields["expand"]))

    def _shipping_rates_for(
        self, options: list[tuple[str, Any]], currency: str, *, now: int
    ) -> list[dict[str, Any]]:
        rates = []
        for index, (kind, value) in enumerate(options):
            path = f"shipping_options[{index}]"
            if kind == "rate":
                rate = self._shipping_rates.get(value)
                if rate is None or not rate["active"]:
                    raise InvalidParam(
                        f"No such shipping_rate: '{value}'",
                        f"{path}[shipping_rate]",
                        "resource_missing",
                    )
            else:
                rate = new_shipping_rate(value, now=now)
            if rate["fixed_amount"]["currency"] != currency:
                raise InvalidParam(
                    f"The shipping rate's currency "
                    f"({rate['fixed_amount']['currency']}) must match the currency "
                    f"of the line items ({currency}).",
                    path,
                )
            rates.append(rate)
        return rates

    def _create_shipping_rate(
        self, params: dict[str, Any], request_info: dict[str, Any]
    ) -> Response:
        data = shipping_rate_data(params, "")
        rate = new_shipping_rate(data, now=int(time.time()))
        self._shipping_rates[rate["id"]] = rate
        return _json(200, self._expand(rate, expansions(params)))

    def _retrieve_shipping_rate(
        self, object_id: str, params: dict[str, Any], request_info: dict[str, Any]
    ) -> Response:
        found = self._lookup(object_id, "shipping_rate", param="shipping_rate")
        return _json(200, self._expand(found, expansions(params)))

    def _create_refund(
        self, params: dict[str, Any], request_info: dict[str, Any]
    ) -> Response:
        charge = self._refund_target(params)
        amount = None
        if "amount" in params:
            amount = integer(params, "amount", minimum=1)
        reason = string(params, "reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise InvalidParam(
                f"Invalid reason: must be one of {', '.join(REFUND_REASONS)}",
                "reason",
            )
        refund_metadata = metadata_hash(params.get("metadata", {}))
        refund = self._refund(charge, amount, reason, refund_metadata, request_info)
        return _json(200, self._expand(refund, expansions(params)))

    def _refund_target(self, params: dict[str, Any]) -> dict[str, Any]:
        charge_id = string(params, "charge")
        payment_intent_id = string(params, "payment_intent")
        if charge_id is None and payment_intent_id is None:
            raise ApiError(
                400,
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
            )
        if payment_intent_id is not None:
            payment_intent = self._lookup(
                payment_intent_id, "payment_intent", param="payment_intent"
            )
            charge = self._charges.get(payment_intent["latest_charge"] or "")
            if charge is None or charge["status"] != "succeeded":
                raise InvalidParam(
                    f"This PaymentIntent ({payment_intent_id}) does not have a "
                    "successful charge to refund.",
                    "payment_intent",
                )
            if charge_id is not None and charge_id != charge["id"]:
                raise InvalidParam(
                    f"The charge {charge_id} does not belong to the PaymentIntent "
                    f"{payment_intent_id}.",
                    "charge",
                )
            return charge
        charge = self._lookup(charge_id or "", "charge", param="charge")
        if charge["status"] != "succeeded":
            raise InvalidParam(
                f"Charge {charge_id} has not succeeded, so it cannot be refunded.",
                "charge",
            )
        return charge

    def _list_refunds(
        self, params: dict[str, Any], request_info: dict[str, Any]
    ) -> Response:
        limit = (
            integer(params, "limit", minimum=1, maximum=100)
            if "limit" in params
            else 10
        )
        refunds = sorted(
            self._refunds.values(), key=lambda refund: refund["created"], reverse=True
        )
        for key in ("charge", "payment_intent"):
            wanted = string(params, key)
            if wanted is not None:
                refunds = [refund for refund in refunds if refund[key] == wanted]
        after = string(params, "starting_after")
        if after is not None:
            ids = [refund["id"] for refund in refunds]
            if after not in ids:
                raise InvalidParam(f"No such refund: '{after}'", "starting_after")
            refunds = refunds[ids.index(after) + 1 :]
        page = [self._expand(refund, expansions(params)) for refund in refunds[:limit]]
        return _json(200, list_object("/v1/refunds", page, len(refunds) > limit))

    def _retrieve_refund(
        self, object_id: str, params: dict[str, Any], request_info: dict[str, Any]
    ) -> Response:
        found = self._lookup(object_id, "refund", param="refund")
        return _json(200, self._expand(found, expansions(params)))

    def _retrieve_dispute(
        self, object_id: str, params: dict[str, Any], request_info: dict[str, Any]
    ) -> Response:
        found = self._lookup(object_id, "dispute", param="dispute")
        return _json(200, self._expand(found, expansions(params)))

    # The hosted page and the control endpoints

    def _handle_page(self, request: Request) -> Response:
        match = _PAGE_PATH.fullmatch(request.path)
        session_id = match.group(1) if match else ""
        with self._lock:
            session = copy.deepcopy(self._sessions.get(session_id))
            items = copy.deepcopy(self._line_items.get(session_id, []))
            rates = [
                copy.deepcopy(self._shipping_rates[option["shipping_rate"]])
                for option in (session or {}).get("shipping_options", [])
            ]
        if session is None:
            return _html(404, render_not_found(session_id))

        def page(status: int, **kwargs: Any) -> Response:
            return _html(status, render_checkout(session, items, rates, **kwargs))

        if request.method == "GET":
            return page(200, message=_closed(session))
        if request.method != "POST":
            return page(405, error="Use GET or POST.")
        form = dict(parse_qsl(request.body.decode(errors="replace")))
        action = form.get("action")
        email = form.get("email", DEFAULT_EMAIL).strip()
        if action == "cancel":
            return _redirect(session["cancel_url"] or f"{self.url}{request.path}")
        if action not in ("pay", "pay_delayed"):
            return page(400, error="Choose Pay, Pay by bank debit or Cancel.")
        shopper = _shopper_from_form(session, form, email)
        if session["status"] == "open":
            wanted = "card" if action == "pay" else "bank debit"
            if not _offers(session, action):
                error = f"This checkout session does not accept {wanted} payments."
                return page(400, error=error)
            if not _EMAIL.fullmatch(email):
                return page(400, error="Enter a valid email address.", form=form)
            problem = shopper_problem(session, shopper)
            if problem:
                return page(400, error=problem, form=form)
        try:
            session, first_attempt = self._complete(
                session_id, shopper, delayed=action == "pay_delayed"
            )
        except SessionStateError:
            message = _closed(session) or "This checkout session is no longer open."
            return page(409, message=message)
        first_attempt.wait(REDIRECT_WAIT_SECONDS)
        return _redirect(
            session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
        )

    def _handle_control(self, request: Request) -> Response:
        try:
            data = json.loads(request.body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
            result = self._control(request.method, request.path, data)
        except KeyError as error:
            return _json(404, {"error": str(error.args[0])})
        except SessionStateError as error:
            return _json(409, {"error": str(error)})
        except (ValueError, TypeError) as error:
            return _json(400, {"error": str(error)})
        return _json(200, {"ok": True} if result is None else result)

    def _control(self, method: str, path: str, data: dict[str, Any]) -> Any:
        routes: dict[tuple[str, str], Callable[[], Any]] = {
            ("POST", "/_double/fail"): lambda: self.fail_next(
                count=int(data.get("count", 1)),
                status=data.get("status", 500),
                hang=data.get("hang"),
            ),
            ("POST", "/_double/revoke"): lambda: self.revoke_key(data["api_key"]),
            ("POST", "/_double/events/hold"): self.hold_events,
            ("POST", "/_double/events/release"): lambda: self.release_events(
                order=data.get("order", "fifo")
            ),
            ("POST", "/_double/config"): lambda: self._configure(data),
            ("POST", "/_double/reset"): self.reset,
            ("POST", "/_double/refunds"): lambda: self.refund(
                _payment_id(data),
                amount=data.get("amount"),
                reason=data.get("reason"),
                metadata=data.get("metadata"),
            ),
            ("POST", "/_double/disputes"): lambda: self.dispute(
                _payment_id(data),
                reason=data.get("reason", "fraudulent"),
                amount=data.get("amount"),
            ),
            ("GET", "/_double/sessions"): lambda: self.sessions,
            ("GET", "/_double/events"): lambda: self.events,
            ("GET", "/_double/thin_events"): lambda: self.thin_events,
            ("GET", "/_double/payment_intents"): lambda: self.payment_intents,
            ("GET", "/_double/deliveries"): lambda: self.deliveries,
            ("GET", "/_double/requests"): lambda: self.requests,
        }
        if (method, path) in routes:
            return routes[method, path]()
        if method == "POST" and (match := _CONTROL_REFUND_PATH.fullmatch(path)):
            return self.settle_refund(
                match.group(1), succeeded=bool(data.get("succeeded", True))
            )
        if method == "POST" and (match := _CONTROL_DISPUTE_PATH.fullmatch(path)):
            return self.close_dispute(match.group(1), won=bool(data["won"]))
        match = _CONTROL_SESSION_PATH.fullmatch(path)
        if method != "POST" or not match:
            raise KeyError(f"No control endpoint {method} {path}")
        session_id, action = match.groups()
        if action == "pay":
            return self.pay(
                session_id,
                delayed=bool(data.get("delayed", False)),
                email=data.get("email") or DEFAULT_EMAIL,
                name=data.get("name") or DEFAULT_NAME,
                country=data.get("country") or DEFAULT_COUNTRY,
                address=data.get("address"),
                phone=data.get("phone"),
                shipping_rate=data.get("shipping_rate"),
            )
        if action == "settle":
            return self.settle(
                session_id,
                succeeded=bool(data.get("succeeded", True)),
                notify=bool(data.get("notify", True)),
            )
        return self.expire(session_id)

    def _configure(self, data: dict[str, Any]) -> dict[str, Any]:
        settable = {
            "duplicate_deliveries": bool,
            "delivery_delay": float,
            "webhook_url": lambda value: value or None,
            "webhook_secret": str,
            "retry_delays": lambda value: tuple(float(v) for v in value),
            "event_payloads": _event_payloads,
        }
        unknown = set(data) - set(settable)
        if unknown:
            raise ValueError(f"Unknown settings: {', '.join(sorted(unknown))}")
        with self._lock:
            for name, value in data.items():
                setattr(self, name, settable[name](value))
            return {name: getattr(self, name) for name in settable}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    double: StripeDouble

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is what `hang` is for, not a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "StripeDouble/1.0"
    sys_version = ""
    # Idle keep-alive connections give their thread back after this long.
    timeout = 30

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        url = urlsplit(self.path)
        request = Request(
            method=method,
            path=url.path,
            query=url.query,
            body=self.rfile.read(length) if length else b"",
            headers={name.lower(): value for name, value in self.headers.items()},
        )
        try:
            response = self.server.double.handle(request)
        except Exception as error:  # a bug in the double must not kill the server
            self.log_error("Unhandled error: %r", error)
            bug = ApiError(500, "Internal error in the double.", error_type="api_error")
            response = _error_response(bug)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.double.log_requests:
            super().log_message(format, *args)


class _Attempts:
    """The first delivery attempts of one event's payloads, to wait for."""

    def __init__(self, attempts: list[threading.Event]) -> None:
        self._attempts = attempts

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for attempt in self._attempts:
            attempt.wait(max(0.0, deadline - time.monotonic()))


def _payment_id(data: dict[str, Any]) -> str:
    payment_id = data.get("payment_intent") or data.get("session")
    if not isinstance(payment_id, str):
        raise ValueError("Give the payment_intent or the session to act on")
    return payment_id


def _shopper_from_form(
    session: dict[str, Any], form: dict[str, str], email: str
) -> Shopper:
    name = form.get("name", "").strip() or DEFAULT_NAME
    address = None
    if session["shipping_address_collection"]:
        address = {
            key: form.get(key, "").strip() or None
            for key in ("line1", "line2", "city", "state", "postal_code", "country")
        }
    return Shopper(
        email=email,
        name=name,
        country=form.get("country", DEFAULT_COUNTRY),
        address=address,
        phone=form.get("phone", "").strip() or None,
        shipping_rate=form.get("shipping_rate"),
    )


def _offers(session: dict[str, Any], action: str) -> bool:
    types = set(session["payment_method_types"])
    if action == "pay":
        return "card" in types
    return bool(types & DELAYED_PAYMENT_METHOD_TYPES)


def _method_type(session: dict[str, Any], delayed: bool) -> str:
    types = session["payment_method_types"]
    if not delayed:
        if "card" not in types:
            raise SessionStateError(f"{session['id']} does not accept cards")
        return "card"
    offered = [kind for kind in types if kind in DELAYED_PAYMENT_METHOD_TYPES]
    if not offered:
        raise SessionStateError(f"{session['id']} does not accept bank debits")
    return offered[0]


def _event_payloads(value: str) -> str:
    if value not in PAYLOADS:
        raise ValueError(f"event_payloads must be one of {', '.join(PAYLOADS)}")
    return value


def _is_success(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def _redact(key: str) -> str:
    if len(key) < 12:
        return "*" * len(key)
    prefix = key[: key.find("_", 3) + 1] if key.count("_") >= 2 else key[:3]
    return prefix + "*" * (len(key) - len(prefix) - 4) + key[-4:]


def _closed(session: dict[str, Any]) -> str | None:
    if session["status"] == "expired":
        return "This checkout session has expired."
    if session["status"] == "complete":
        if session["payment_status"] == "paid":
            return "This checkout session is complete: the payment was received."
        return "This checkout session is complete: the bank debit is processing."
    return None


def _json(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload, indent=2).encode())


def _html(status: int, page: str) -> Response:
    return Response(
        status,
        page.encode(),
        "text/html; charset=utf-8",
        {"Cache-Control": "no-store"},
    )


def _redirect(location: str) -> Response:
    return Response(303, b"", "text/plain", {"Location": location})


def _error_response(error: ApiError) -> Response:
    response = _json(error.status, error.body())
    if error.status == 409:
        response.headers["Stripe-Should-Retry"] = "true"
    elif 400 <= error.status < 500 and error.status != 429:
        response.headers["Stripe-Should-Retry"] = "false"
    return response


def _fault_response(status: int) -> Response:
    if status >= 500:
        error_type, code = "api_error", None
        message = f"An unknown error occurred {_INJECTED}."
    else:
        error_type, code, message = _FAULTS.get(
            status, ("invalid_request_error", None, f"Invalid request {_INJECTED}.")
        )
    return _error_response(ApiError(status, message, error_type=error_type, code=code))
