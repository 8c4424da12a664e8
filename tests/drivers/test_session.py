"""The POSLink session machine driven byte by byte and tick by tick: no sockets, no sleeps.
Frames come from the hostile terminal's own builder, not from the driver's codec."""

from __future__ import annotations

from drivers.poslink import messages as m
from drivers.poslink.session import (
    Accepted,
    Failed,
    Finished,
    LineSession,
    NotDelivered,
    OutcomeUnknown,
    Output,
    Phase,
    Send,
    StatusFrame,
    Timing,
)
from tests.drivers.hostile import frame, t01

T = Timing(
    ack_timeout=1.0, response_timeout=10.0, eot_timeout=0.5, inter_byte_timeout=0.2, retries=3
)
ACK, NAK, EOT = b"\x06", b"\x15", b"\x04"


def sale(ref: str, cents: int = 1234) -> m.Request:
    return m.credit(m.SALE, ecr_ref=ref, amount_cents=cents)


def sent(outs: list[Output]) -> bytes:
    return b"".join(o.data for o in outs if isinstance(o, Send))


def ended(outs: list[Output]) -> Finished | Failed | None:
    return next((o for o in outs if isinstance(o, Finished | Failed)), None)


def approval(ref: str, cents: int = 1234, auth: str = "A1") -> bytes:
    return t01("000000", ref=ref, approved=str(cents), auth=auth)


def run_sale(s: LineSession, ref: str, now: float, reply: bytes) -> list[Output]:
    """Start a sale at ``now``; the terminal ACKs, replies and ends with EOT."""
    outs = s.start(sale(ref), now, ecr_ref=ref)
    outs += s.receive(ACK, now + 0.01)
    outs += s.receive(reply, now + 0.02)
    outs += s.receive(EOT, now + 0.03)
    return outs


def test_a_full_exchange_runs_to_the_eot() -> None:
    s = LineSession(T, shared=True)
    outs = s.start(sale("R1"), 0.0, ecr_ref="R1")
    assert sent(outs) == sale("R1").encode()
    assert any(isinstance(o, Accepted) for o in s.receive(ACK, 0.1))
    outs = s.receive(approval("R1"), 0.2)
    assert sent(outs) == ACK and ended(outs) is None and s.phase is Phase.AWAIT_EOT
    done = ended(s.receive(EOT, 0.3))
    assert isinstance(done, Finished) and done.response is not None
    assert m.reply_ecr_ref(done.response) == "R1"


def test_a_resent_reply_before_the_eot_is_acknowledged_again_and_not_taken_twice() -> None:
    s = LineSession(T, shared=True)
    s.start(sale("R1"), 0.0, ecr_ref="R1")
    s.receive(ACK, 0.1)
    s.receive(approval("R1"), 0.2)
    assert sent(s.receive(approval("R1"), 0.4)) == ACK  # it did not hear our ACK
    assert isinstance(ended(s.receive(EOT, 0.5)), Finished)
    # the same reply once more, during the next sale: recognised, never taken
    outs = s.start(sale("R2", 500), 1.0, ecr_ref="R2")
    outs += s.receive(ACK, 1.1)
    outs += s.receive(approval("R1"), 1.2)
    assert ended(outs) is None and s.phase is Phase.AWAIT_REPLY


def test_without_its_eot_the_next_exchange_never_takes_a_reply_naming_nobody() -> None:
    s = LineSession(T, shared=True)
    s.start(sale("R1"), 0.0, ecr_ref="R1")
    s.receive(ACK, 0.1)
    s.receive(approval("R1"), 0.2)
    assert isinstance(ended(s.tick(0.8)), Finished)  # no EOT: the outcome is known all the same
    s.start(sale("R2", 500), 1.0, ecr_ref="R2")
    s.receive(ACK, 1.1)
    outs = s.receive(t01("000000", ref="", approved="1234", auth="A9"), 1.2)
    assert ended(outs) is None and sent(outs) == ACK  # acknowledged, ignored
    outs = s.receive(t01("000100", ref="R2", host="05", text="DECLINED"), 1.3)
    outs += s.receive(EOT, 1.4)
    done = ended(outs)
    assert isinstance(done, Finished) and done.response is not None
    assert done.response.result_code == "000100"


def test_a_money_reply_naming_nobody_ends_unknown_at_once_on_a_clean_line() -> None:
    s = LineSession(T, shared=True)
    outs = run_sale(s, "R1", 0.0, t01("000000", ref="", approved="1234"))
    failed = ended(outs)
    assert isinstance(failed, Failed) and isinstance(failed.error, OutcomeUnknown)
    assert sent(outs).endswith(ACK)  # acknowledged all the same: the terminal stops resending


def test_on_a_clean_line_a_reply_without_a_reference_slot_is_pinned_to_the_request() -> None:
    s = LineSession(T, shared=True)
    s.start(m.initialize(), 0.0)
    s.receive(ACK, 0.01)
    s.receive(frame("0", "A01", "1.35", "000000", "OK", "SN1", "M", "F"), 0.02)
    done = ended(s.receive(EOT, 0.03))
    assert isinstance(done, Finished) and done.response is not None


def test_after_an_unanswered_query_a_reply_without_a_reference_is_not_taken() -> None:
    s = LineSession(T, shared=True)
    s.start(m.batch_close(), 0.0)
    s.receive(ACK, 0.01)
    assert isinstance(ended(s.tick(10.5)), Failed)  # its B01 may still come
    s.start(m.batch_close(), 11.0)
    s.receive(ACK, 11.01)
    b01 = frame("0", "B01", "1.35", "000000", "OK", "00", "3", "1500")
    outs = s.receive(b01, 11.02)
    assert ended(outs) is None  # the first B01 settles the earlier query
    outs = s.receive(b01, 11.03)
    assert ended(outs) is None  # a copy of it is still not taken (it may be a resend)


def test_a_reply_for_another_reference_is_never_taken() -> None:
    s = LineSession(T, shared=False)
    s.start(sale("R1"), 0.0, ecr_ref="R1")
    s.receive(ACK, 0.1)
    outs = s.receive(approval("OTHER"), 0.2)
    assert ended(outs) is None and sent(outs) == ACK
    failed = ended(s.tick(10.2))
    assert isinstance(failed, Failed) and isinstance(failed.error, OutcomeUnknown)
    assert failed.error.accepted


def test_an_inter_byte_time_out_drops_a_half_frame_so_the_ack_is_seen() -> None:
    s = LineSession(T, shared=True)
    half = approval("R0")[:20]
    s.start(sale("R1"), 0.0, ecr_ref="R1")
    s.receive(half, 0.05)  # a frame that stops half-way
    outs = s.receive(ACK, 0.5)  # 0.45 s later: the half frame is gone, the ACK is an ACK
    assert any(isinstance(o, Accepted) for o in outs)


def test_every_exchange_starts_with_an_empty_decoder() -> None:
    s = LineSession(T, shared=True)
    run_sale(s, "R1", 0.0, approval("R1"))
    s.receive(approval("R1")[:15], 0.1)  # the head of something, then nothing
    s.start(sale("R2"), 0.11, ecr_ref="R2")
    assert any(isinstance(o, Accepted) for o in s.receive(ACK, 0.12))


def test_nak_resends_the_same_frame_at_most_three_times_then_eot() -> None:
    s = LineSession(T, shared=True)
    first = sent(s.start(sale("R1"), 0.0, ecr_ref="R1"))
    for i in range(3):
        assert sent(s.receive(NAK, 0.1 * (i + 1))) == first
    outs = s.receive(NAK, 0.5)
    failed = ended(outs)
    assert sent(outs) == EOT and isinstance(failed, Failed)
    assert isinstance(failed.error, NotDelivered)


def test_no_ack_is_unknown_never_a_resend() -> None:
    s = LineSession(T, shared=True)
    s.start(sale("R1"), 0.0, ecr_ref="R1")
    outs = s.tick(1.01)
    failed = ended(outs)
    assert sent(outs) == b"" and isinstance(failed, Failed)
    assert isinstance(failed.error, OutcomeUnknown) and not failed.error.accepted


def test_an_echo_of_our_own_frame_means_never_sent() -> None:
    s = LineSession(T, shared=True)
    frame_out = sent(s.start(sale("R1"), 0.0, ecr_ref="R1"))
    assert sent(s.receive(frame_out, 0.01)) == b""  # never acknowledged: that would echo too
    failed = ended(s.tick(1.01))
    assert isinstance(failed, Failed) and isinstance(failed.error, NotDelivered)


def test_status_frames_are_counted_and_bounded() -> None:
    s = LineSession(T, shared=True)
    s.start(sale("R1"), 0.0, ecr_ref="R1")
    s.receive(ACK, 0.01)
    status = frame("1", "T01", "1.35", "000000", "WAITING FOR CARD")
    outs: list[Output] = []
    for i in range(T.max_status_frames + 1):
        outs += s.receive(status, 0.02 + i * 0.001)
    assert sum(isinstance(o, StatusFrame) for o in outs) == T.max_status_frames
    failed = ended(outs)
    assert isinstance(failed, Failed) and isinstance(failed.error, OutcomeUnknown)
    # and they do not spill into the next exchange
    s.start(sale("R2"), 0.2, ecr_ref="R2")
    s.receive(status, 0.21)
    assert any(isinstance(o, Accepted) for o in s.receive(ACK, 0.22))


def test_unreadable_replies_are_nakked_then_unknown() -> None:
    s = LineSession(T, shared=True)
    s.start(sale("R1"), 0.0, ecr_ref="R1")
    s.receive(ACK, 0.01)
    bad = bytearray(approval("R1"))
    bad[-1] ^= 0x55
    for i in range(3):
        assert sent(s.receive(bytes(bad), 0.02 + i * 0.01)) == NAK
    outs = s.receive(bytes(bad), 0.1)
    failed = ended(outs)
    assert isinstance(failed, Failed) and isinstance(failed.error, OutcomeUnknown)
    assert failed.error.accepted


def test_a_flood_of_noise_costs_nothing_but_time() -> None:
    s = LineSession(T, shared=True)
    s.start(sale("R1"), 0.0, ecr_ref="R1")
    outs = s.receive(b"\x30" * 200_000 + b"\x02" + b"\x31" * 10_000, 0.01)
    assert ended(outs) is None
    outs = s.receive(ACK, 0.5)  # after the inter-byte time-out the oversize frame is gone
    assert any(isinstance(o, Accepted) for o in outs)


def test_the_same_question_twice_gets_the_same_bytes_back_and_both_are_read() -> None:
    """A repeated identification or status query is answered with identical frames: a copy of a
    reply already taken must not be refused as a resend."""
    s = LineSession(T, shared=True)
    a01 = frame("0", "A01", "1.35", "000000", "OK", "SN1", "M", "F")
    not_found = frame("0", "R03", "1.35", "100023", "NOT FOUND", "0", "", "", "", "", "")
    for i, (request, reply) in enumerate(
        [(m.initialize(), a01), (m.initialize(), a01), (m.local_detail("R9"), not_found)] * 2
    ):
        now = float(i)
        ref = "R9" if request.command == "R02" else ""
        s.start(request, now, ecr_ref=ref)
        s.receive(ACK, now + 0.01)
        s.receive(reply, now + 0.02)
        done = ended(s.receive(EOT, now + 0.03))
        assert isinstance(done, Finished) and done.response is not None, (i, done)


def test_a_terminal_that_never_sends_eot_still_identifies_itself_every_time() -> None:
    s = LineSession(T, shared=True)
    a01 = frame("0", "A01", "1.35", "000000", "OK", "SN1", "M", "F")
    for i in range(3):
        now = float(i)
        s.start(m.initialize(), now)
        s.receive(ACK, now + 0.01)
        s.receive(a01, now + 0.02)
        done = ended(s.tick(now + 0.6))  # no EOT
        assert isinstance(done, Finished) and done.response is not None, i
