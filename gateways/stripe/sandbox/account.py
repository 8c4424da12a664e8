"""The sandbox account's state and what every operation shares: ids, the clock, the object
collections, events (emitting, listing with Stripe's pagination) and the Checkout Session
lifecycle."""

from __future__ import annotations

import copy
import random
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateways.stripe.sandbox.errors import StripeProblem, missing
from gateways.stripe.sandbox.params import Json, check_keys, int_param

__all__ = ["API_VERSION", "CHECKOUT_LIFETIME", "EVENT_RETENTION", "Account"]

#: The version of the subset this sandbox answers as (``info.version`` of the OpenAPI subset).
API_VERSION = "2023-08-16"
CHECKOUT_LIFETIME = 24 * 3600  # a Checkout Session's default life [T1]
EVENT_RETENTION = 30 * 24 * 3600  # events listable for 30 days [T5]


@dataclass
class _Event:
    obj: Json
    visible_at: float


@dataclass
class _Collection:
    """Objects of one kind in creation order (lists answer newest first)."""

    kind: str
    items: dict[str, Json] = field(default_factory=dict)


class Account:
    """All objects of one sandbox account. Thread-safe: the hosted page and the API share it
    (callers hold :attr:`lock` around an operation)."""

    def __init__(self, *, seed: int | None = None, clock: Callable[[], float] = time.time) -> None:
        self._rng = random.Random(seed)
        self._wall = clock
        self.offset = 0.0  # seconds added by the clock control
        self.public_url = "http://127.0.0.1"
        self.lock = threading.RLock()
        self.late_events_seconds = 0.0  # events emitted now become listable this much later
        self._c: dict[str, _Collection] = {
            k: _Collection(k)
            for k in (
                "product",
                "price",
                "payment_link",
                "checkout.session",
                "payment_intent",
                "charge",
                "refund",
            )
        }
        self._events: dict[str, _Event] = {}
        self._link_by_token: dict[str, str] = {}

    # ---------------------------------------------------------------- helpers

    def now(self) -> float:
        return self._wall() + self.offset

    def _ts(self) -> int:
        return int(self.now())

    def new_id(self, prefix: str, n: int = 24) -> str:
        alphabet = string.ascii_letters + string.digits
        return f"{prefix}_1{''.join(self._rng.choice(alphabet) for _ in range(n))}"

    def _get(self, kind: str, object_id: str, param: str = "id") -> Json:
        obj = self._c[kind].items.get(object_id)
        if obj is None:
            raise missing(kind.replace("checkout.session", "checkout.session"), object_id, param)
        return obj

    def _emit(
        self, type_: str, obj: Json, request: Json | None = None, previous: Json | None = None
    ) -> None:
        evt_id = self.new_id("evt")
        data: Json = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": evt_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": self._ts(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": request or {"id": None, "idempotency_key": None},
            "type": type_,
        }
        self._events[evt_id] = _Event(event, self.now() + self.late_events_seconds)

    def _page(
        self,
        items: list[Json],
        params: Json,
        url: str,
        kind: str,
        visible: Callable[[Json], bool] = lambda _o: True,
    ) -> Json:
        """Stripe's list pagination over ``items`` (oldest first): newest first out, ``limit``
        1–100 (default 10), ``starting_after`` → older than that id, ``ending_before`` → the
        ``limit`` objects just newer than that id, ``has_more`` → more beyond in that direction."""
        limit = int_param(params, "limit", lo=1, hi=100) or 10
        after, before = params.get("starting_after"), params.get("ending_before")
        if after and before:
            raise StripeProblem(
                400, "You may only specify one of these parameters: ending_before, starting_after."
            )
        newest_first = [o for o in reversed(items) if visible(o)]
        ids = [o["id"] for o in newest_first]
        if after:
            if after not in ids:
                raise missing(kind, str(after), "starting_after")
            rest = newest_first[ids.index(after) + 1 :]
            data, has_more = rest[:limit], len(rest) > limit
        elif before:
            if before not in ids:
                raise missing(kind, str(before), "ending_before")
            newer = newest_first[: ids.index(before)]
            data, has_more = newer[-limit:], len(newer) > limit
        else:
            data, has_more = newest_first[:limit], len(newest_first) > limit
        return {"object": "list", "data": copy.deepcopy(data), "has_more": has_more, "url": url}

    # ---------------------------------------------------------------- checkout session lifecycle

    def _wire_session(self, obj: Json, expand: Any = ()) -> Json:
        out = {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
        if out["status"] != "open":
            out["url"] = None
        if "line_items" in (expand or ()):
            out["line_items"] = {
                "object": "list",
                "data": copy.deepcopy(obj["_line_items"]),
                "has_more": False,
                "url": f"/v1/checkout/sessions/{obj['id']}/line_items",
            }
        return out

    def _expire(self, obj: Json, request: Json | None = None) -> None:
        obj["status"] = "expired"
        self._emit("checkout.session.expired", self._wire_session(obj), request)

    def _expire_due(self) -> None:
        now = self._ts()
        for obj in self._c["checkout.session"].items.values():
            if obj["status"] == "open" and obj["expires_at"] <= now:
                self._expire(obj)

    # ---------------------------------------------------------------- events

    def list_events(self, params: Json) -> Json:
        check_keys(
            params,
            {
                "type",
                "types",
                "created",
                "limit",
                "starting_after",
                "ending_before",
                "delivery_success",
                "expand",
            },
        )
        self._expire_due()
        now = self.now()
        items = [e.obj for e in self._events.values() if e.obj["created"] >= now - EVENT_RETENTION]
        if "type" in params and "types" in params:
            raise StripeProblem(400, "You may only specify one of these parameters: type, types.")
        if "type" in params:
            pattern = str(params["type"])
            if pattern.endswith(".*"):
                items = [o for o in items if o["type"].startswith(pattern[:-1])]
            else:
                items = [o for o in items if o["type"] == pattern]
        if "types" in params:
            wanted = params["types"]
            if not isinstance(wanted, list) or len(wanted) > 20:
                raise StripeProblem(
                    400, "Invalid types: must be an array of at most 20 strings", param="types"
                )
            items = [o for o in items if o["type"] in wanted]
        created = params.get("created")
        if isinstance(created, dict):
            for op, raw in created.items():
                if op not in ("gt", "gte", "lt", "lte") or not str(raw).isdigit():
                    raise StripeProblem(400, f"Invalid created[{op}]", param=f"created[{op}]")
                bound = int(raw)
                test: Callable[[int], bool] = {
                    "gt": lambda c, b=bound: c > b,
                    "gte": lambda c, b=bound: c >= b,
                    "lt": lambda c, b=bound: c < b,
                    "lte": lambda c, b=bound: c <= b,
                }[op]
                items = [o for o in items if test(o["created"])]
        elif created is not None:
            if not str(created).isdigit():
                raise StripeProblem(400, "Invalid created", param="created")
            items = [o for o in items if o["created"] == int(created)]

        def visible(o: Json) -> bool:
            return self._events[o["id"]].visible_at <= now

        return self._page(items, params, "/v1/events", "event", visible)

    def get_event(self, evt_id: str) -> Json:
        event = self._events.get(evt_id)
        if event is None or event.visible_at > self.now():
            raise missing("event", evt_id)
        return copy.deepcopy(event.obj)

    # ---------------------------------------------------------------- for tests and trainers

    def events_of(self, type_: str) -> list[Json]:
        return [copy.deepcopy(e.obj) for e in self._events.values() if e.obj["type"] == type_]

    def all_objects(self, kind: str) -> list[Json]:
        return [copy.deepcopy(o) for o in self._c[kind].items.values()]
