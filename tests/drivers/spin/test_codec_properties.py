"""Properties of the pure SPIn codec: any bytes or any JSON shape is either read or refused as a
``CodecError`` (never another exception), and whatever is read is believed as an approval only
when it names the request's ReferenceId, an exact amount no more than asked, and HTTP 200."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import Approved, Declined
from drivers.spin import codec as c
from drivers.spin import outcome as o

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.sampled_from(["0", "1", "2", "Ok", "0000", "0001", "1015", "1011", "2008", "12.34", "P1"]),
    st.text(max_size=12),
)
amounts = st.one_of(
    st.sampled_from(["12.34", "1.005", "-1", "1e2", "NaN", "", "0.00", "99999999999"]),
    st.integers(-5, 10**6),
)
replies = st.fixed_dictionaries(
    {
        "GeneralResponse": st.fixed_dictionaries(
            {
                "ResultCode": st.sampled_from(["0", "1", "2", "Ok", 0, 1, "x", None]),
                "StatusCode": st.sampled_from(["0000", "0001", "1015", "1012", "1011", "2007", "2008", 0, "12", None]),
                "HostResponseCode": st.sampled_from(["00", "05", "", "A1"]),
            }
        ),
        "ReferenceId": st.sampled_from(["P1", "P2", "", None, 5]),
        "Amounts": st.one_of(st.none(), st.fixed_dictionaries({"Amount": amounts})),
        "CardData": st.one_of(st.none(), st.dictionaries(st.sampled_from(["Last4", "CardType"]), scalars)),
    }
)  # fmt: skip


@given(st.binary(max_size=300))
@settings(max_examples=100, deadline=None)
def test_any_bytes_are_read_or_refused_as_unreadable(body: bytes) -> None:
    with contextlib.suppress(c.CodecError):
        c.parse_reply(200, body)


@given(replies, st.sampled_from([200, 200, 500, 404]), st.integers(1, 10**6))
@settings(max_examples=200, deadline=None)
def test_only_a_whole_tied_reply_is_an_approval(data: dict, http: int, requested: int) -> None:
    text = json.dumps(data)
    try:
        reply = c.parse_reply(http, text.encode())
    except c.CodecError:
        return
    result = o.transaction(reply, ref="P1", requested=requested)
    if isinstance(result, Approved):
        assert http == 200 and data["ReferenceId"] == "P1"
        assert reply.amount_cents is not None and 0 < result.approved_cents <= requested
        assert data["GeneralResponse"]["StatusCode"] in ("0000", "0001", 0)
    if isinstance(result, Declined):
        assert http == 200 and data["ReferenceId"] == "P1"
