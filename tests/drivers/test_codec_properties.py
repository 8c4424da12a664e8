"""Property tests: random bytes never crash the decoder; every single-byte corruption of a frame is
caught (the one framing blind spot — a payload byte turned into ETX whose next byte happens to equal
the truncated LRC — is asserted to be exactly that, and the session's field checks then refuse it)."""

from __future__ import annotations

import contextlib

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from drivers.poslink import messages as m
from drivers.poslink.codec import (
    ETX,
    BadFrame,
    FrameDecoder,
    GoodFrame,
    MessageError,
    Request,
    decode_all,
    decode_request,
    decode_response,
    lrc,
)

text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
groups = st.lists(text, max_size=4).map(lambda parts: "\x1f".join(parts))
requests = st.builds(
    Request,
    command=st.text(alphabet="ABRT0123456789", min_size=3, max_size=3),
    version=st.sampled_from(["1.28", "1.31", "1.35", "1.43"]),
    fields=st.lists(groups, min_size=1, max_size=9).map(tuple).filter(lambda f: f != ("",)),
)


@given(st.binary(max_size=600))
@settings(max_examples=400, deadline=None)
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    events = decode_all(data)
    for ev in events:
        if isinstance(ev, GoodFrame):
            # whatever it found really is a well-formed, checksummed frame
            assert lrc(ev.raw[1:-1]) == ev.raw[-1]
            for parse in (decode_request, decode_response):
                with contextlib.suppress(MessageError):
                    parse(ev.payload)


@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=8))
@settings(max_examples=200, deadline=None)
def test_split_points_do_not_change_the_result(data: bytes, cuts: list[int]) -> None:
    whole = [e for e in decode_all(data) if isinstance(e, GoodFrame | BadFrame)]
    decoder, got, pos = FrameDecoder(), [], 0
    for cut in cuts:
        got += decoder.feed(data[pos : pos + cut])
        pos += cut
    got += decoder.feed(data[pos:])
    assert [e for e in got if isinstance(e, GoodFrame | BadFrame)] == whole


@given(requests)
@settings(max_examples=200, deadline=None)
def test_requests_round_trip(request_: Request) -> None:
    (ev,) = decode_all(request_.encode())
    assert isinstance(ev, GoodFrame) and decode_request(ev.payload) == request_


@given(requests, st.data())
@settings(max_examples=500, deadline=None)
def test_every_single_byte_corruption_is_detected(request_: Request, data: st.DataObject) -> None:
    raw = request_.encode()
    pos = data.draw(st.integers(0, len(raw) - 1), label="position")
    value = data.draw(st.integers(0, 255), label="value")
    assume(value != raw[pos])
    bad = raw[:pos] + bytes([value]) + raw[pos + 1 :]
    good = [e for e in decode_all(bad) if isinstance(e, GoodFrame)]
    assert all(e.raw != raw for e in good)  # never accepted as the original
    if value == ETX and 0 < pos < len(raw) - 2:
        # the only way through: a frame cut short at the new ETX whose next byte equals its LRC
        for e in good:
            assert e.raw == bad[: pos + 2] and bad[pos + 1] == lrc(bad[1 : pos + 1])
    else:
        assert good == []


def test_every_corruption_of_a_real_sale_exhaustively() -> None:
    """All 255 substitutions at every position of a real T00 sale frame."""
    raw = m.credit(
        m.SALE, ecr_ref="P251125ABCDEF123", amount_cents=12345, ext=[("TOKENREQUEST", "1")]
    ).encode()
    accepted_truncations = 0
    for pos in range(len(raw)):
        for value in range(256):
            if value == raw[pos]:
                continue
            bad = raw[:pos] + bytes([value]) + raw[pos + 1 :]
            good = [e for e in decode_all(bad) if isinstance(e, GoodFrame)]
            if not good:
                continue
            assert value == ETX, (pos, value)
            accepted_truncations += 1
            # such a frame lacks the groups a sale needs: the request parser sees fewer fields
            req = decode_request(good[0].payload)
            assert len(req.fields) < 9 or req.fields != decode_request(raw[1:-2]).fields
    assert accepted_truncations <= 3
