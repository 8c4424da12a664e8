"""The POSLink codec: known frames from public implementations, round trips, masking."""

from __future__ import annotations

import pytest

from drivers.poslink import messages as m
from drivers.poslink.codec import (
    ACK,
    EOT,
    NAK,
    BadFrame,
    Control,
    FrameDecoder,
    GoodFrame,
    MessageError,
    Noise,
    Request,
    Response,
    decode_all,
    decode_request,
    decode_response,
    frame,
    lrc,
    reply_command,
)
from drivers.trace import mask_payload, trace_bytes


def test_lrc_of_the_heartland_reboot_frame() -> None:
    # [STX]A26[FS]1.31[FS][ETX] → LRC '[' (0x5B), from hps/heartland-java tests
    raw = Request("A26", "1.31").encode()
    assert raw == b"\x02A26\x1c1.31\x1c\x03["
    assert lrc(raw[1:-1]) == 0x5B


def test_heartland_return_frame_decodes_exactly() -> None:
    payload = b"T00\x1c1.35\x1c02\x1c1600\x1c\x1c2\x1c\x1c\x1c\x1c\x1cHREF=20170101"
    events = decode_all(frame(payload))
    assert events == [GoodFrame(payload, frame(payload))]
    req = decode_request(payload)
    assert req.command == "T00" and req.version == "1.35"
    assert req.fields[0] == m.RETURN
    assert m.request_amount(req) == 1600
    assert m.request_ecr_ref(req) == "2"
    assert m.request_ext(req) == {"HREF": "20170101"}


def test_credit_request_has_the_gp_group_order() -> None:
    req = m.credit(m.SALE, ecr_ref="P251125ABC", amount_cents=1234, ext=[("TOKENREQUEST", "1")])
    assert (
        req.payload()
        == b"T00\x1c1.35\x1c01\x1c1234\x1c\x1cP251125ABC\x1c\x1c\x1c\x1c\x1cTOKENREQUEST=1"
    )
    assert (
        len(req.fields) == 9
    )  # type, amount, account, trace, AVS, cashier, commercial, e-com, extra
    assert req.fields[2] == ""  # the account group: never a card number


def test_init_request_writes_the_fs_after_the_version() -> None:
    assert m.initialize().encode() == b"\x02A00\x1c1.35\x1c\x03" + bytes(
        [lrc(b"A00\x1c1.35\x1c\x03")]
    )
    assert decode_request(m.initialize().payload()) == m.initialize()


@pytest.mark.parametrize(
    "request_",
    [
        m.initialize(),
        m.cancel(ecr_ref="P1"),
        m.cancel(),
        m.batch_close(),
        m.local_detail("P251125X"),
        m.credit(m.SALE, ecr_ref="R1", amount_cents=1, ext=[("TOKEN", "TKABC")]),
        m.credit(m.RETURN, ecr_ref="R2", amount_cents=500, ext=[("HREF", "H1")]),
        m.credit(m.VOID, ecr_ref="R3", ext=[("HREF", "H1")]),
        m.check_sale(ecr_ref="R4", amount_cents=2500, routing="021000021", account="123456789"),
    ],
)
def test_every_request_round_trips(request_: Request) -> None:
    (event,) = decode_all(request_.encode())
    assert isinstance(event, GoodFrame)
    assert decode_request(event.payload) == request_


def _sample_record(**kw: object) -> m.TxnRecord:
    base = dict(
        host_code="00",
        host_message="APPROVAL",
        auth_code="A00001",
        host_ref="H1",
        batch="3",
        txn_type="01",
        approved_cents=1234,
        last4="1111",
        entry_mode="4",
        card_type="01",
        terminal_ref="7",
        ecr_ref="P1",
        ext={"HREF": "H1"},
    )
    base.update(kw)
    return m.TxnRecord(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "response",
    [
        m.identity_response(m.Identity("SN1", "S300", "1.0")),
        m.txn_response("T01", m.OK, "OK", _sample_record()),
        m.txn_response(
            "T01", m.PARTIAL, "PARTIAL", _sample_record(approved_cents=500, amount_due_cents=500)
        ),
        m.txn_response(
            "T13", m.DECLINED, "DECLINED", _sample_record(host_code="51", approved_cents=0)
        ),
        m.batch_response(m.OK, "OK", "4", 2, 1500),
        m.detail_response(_sample_record()),
        m.detail_response(None),
        m.status_report("T01", "WAITING FOR CARD"),
    ],
)
def test_every_response_round_trips(response: Response) -> None:
    (event,) = decode_all(response.encode())
    assert isinstance(event, GoodFrame)
    assert decode_response(event.payload) == response


def test_reply_maps_to_typed_results() -> None:
    ok = m.txn_response(
        "T01", m.OK, "OK", _sample_record(ext={"HREF": "H1", "TOKEN": "TK1"}, expiry="1230")
    )
    approved = m.result_from(ok, ecr_ref="P1", requested_cents=1234)
    assert (approved.approved_cents, approved.brand, approved.last4, approved.token) == (
        1234,
        "VISA",
        "1111",
        "TK1",
    )
    partial = m.txn_response(
        "T01", m.PARTIAL, "PARTIAL", _sample_record(approved_cents=500, amount_due_cents=505)
    )
    result = m.result_from(partial, ecr_ref="P1", requested_cents=1005)
    assert result.is_partial and result.approved_cents == 500
    declined = m.txn_response(
        "T01", m.DECLINED, "DECLINED", _sample_record(host_code="05", host_message="DO NOT HONOR")
    )
    assert m.result_from(declined, ecr_ref="P1", requested_cents=1) == m.Declined(
        "P1", "05", "DO NOT HONOR"
    )
    dup = Response("0", "T01", "1.35", m.DUPLICATE, "DUP TRANSACTION", _sample_record().fields())
    err = m.result_from(dup, ecr_ref="P1", requested_cents=1)
    assert err.code == "100011" and "duplicate" in err.message


def test_decoder_handles_split_merged_noise_and_controls() -> None:
    one = m.initialize().encode()
    two = m.batch_close().encode()
    stream = b"\xff\x7f" + one + bytes([ACK]) + b"zz" + two + bytes([NAK, EOT])
    decoder = FrameDecoder()
    events = []
    for i in range(len(stream)):  # one byte at a time: the worst split
        events += decoder.feed(stream[i : i + 1])
    kinds = [type(e).__name__ for e in events]
    assert [e for e in events if isinstance(e, GoodFrame)] == [
        GoodFrame(one[1:-2], one),
        GoodFrame(two[1:-2], two),
    ]
    assert [e.byte for e in events if isinstance(e, Control)] == [ACK, NAK, EOT]
    assert "Noise" in kinds
    merged = FrameDecoder().feed(stream)
    assert [e for e in merged if not isinstance(e, Noise)] == [
        e for e in events if not isinstance(e, Noise)
    ]


def test_bad_checksum_and_missing_etx_are_reported() -> None:
    good = m.initialize().encode()
    bad = good[:-1] + bytes([good[-1] ^ 1])
    (event,) = decode_all(bad)
    assert isinstance(event, BadFrame) and "checksum" in event.reason
    runaway = b"\x02" + b"A" * 5000
    assert any(isinstance(e, BadFrame) and "too long" in e.reason for e in decode_all(runaway))


def test_malformed_payloads_raise_message_error() -> None:
    for payload in (b"", b"T0", b"T00", b"0\x1cT01\x1c1.35\x1cOK"):
        with pytest.raises(MessageError):
            decode_response(payload) if payload.startswith(b"0") else decode_request(payload)
    with pytest.raises(MessageError):
        Request("T00", "1.35", ("a\x1fb\x03",)).encode()


def test_field_injection_is_refused() -> None:
    with pytest.raises(MessageError):
        m.credit(m.SALE, ecr_ref="P1", amount_cents=100, invoice="INV\x1c1")
    with pytest.raises(ValueError, match="16"):
        m.credit(m.SALE, ecr_ref="P" * 17, amount_cents=100)
    with pytest.raises(ValueError, match="positive"):
        m.credit(m.SALE, ecr_ref="P1", amount_cents=0)


def test_reply_command() -> None:
    assert (
        reply_command("T00") == "T01"
        and reply_command("A14") == "A15"
        and reply_command("R02") == "R03"
    )


def test_trace_masks_account_numbers_and_tokens() -> None:
    req = m.check_sale(ecr_ref="R4", amount_cents=2500, routing="021000021", account="123456789")
    masked = mask_payload(req.payload())
    assert b"123456789" not in masked and b"021000021" not in masked and b"6789" in masked
    resp = m.txn_response(
        "T01", m.OK, "OK", _sample_record(ext={"TOKEN": "TK1234567890ABCD", "CARDBIN": "411111"})
    )
    (record,) = trace_bytes("rx", resp.encode())
    assert "TK1234567890ABCD" not in record.text and "ABCD" in record.text
    assert "411111" not in record.text
    assert b"TK1234567890ABCD".hex(" ").upper() not in record.hex


# Frames published in public PAX integrations (base64 of STX … LRC, as sent over HTTP).
SPEC_SALE = "AlQwMBwxLjI4HDAxHDEwMBwcMRwcHBwcA0M="  # POSLink spec §3.3.2.4 example, LRC 'C'
SPEC_A20 = "AkEyMBwxLjI4HDAcHBwyMDADSw=="  # LRC 'K'
GP_HTTP_MESSAGE = (
    "AlQwMBwxLjM1HDAxFTI3MjYVHx8fHx8xFTE1NTU1OTY1NjAVFRUVFQNt"  # GP DecodeHttpMessage, LRC 'm'
)


def test_spec_sale_frame_decodes_exactly() -> None:
    import base64

    raw = base64.b64decode(SPEC_SALE)
    (event,) = decode_all(raw)
    assert isinstance(event, GoodFrame) and raw[-1:] == b"C"
    req = decode_request(event.payload)
    assert (req.command, req.version, req.fields[0]) == ("T00", "1.28", m.SALE)
    assert m.request_amount(req) == 100 and m.request_ecr_ref(req) == "1"
    assert m.credit(m.SALE, ecr_ref="1", amount_cents=100, version="1.28").encode() == raw
    (a20,) = decode_all(base64.b64decode(SPEC_A20))
    assert isinstance(a20, GoodFrame) and a20.raw[-1:] == b"K"


def test_gp_message_lrc_matches_but_control_bytes_inside_are_refused() -> None:
    import base64

    raw = base64.b64decode(GP_HTTP_MESSAGE)
    assert lrc(raw[1:-1]) == 0x6D == raw[-1]
    (event,) = decode_all(raw)
    assert isinstance(event, BadFrame) and "control" in event.reason


def test_a_published_t01_layout_parses_to_the_right_fields() -> None:
    """The T01 reply layout of a public PAX demo page (v1.40), its placeholders filled in."""
    fs, us = "\x1c", "\x1f"
    payload = fs.join(
        [
            "0",
            "T01",
            "1.40",
            "000000",
            "OK",
            us.join(["0", "DEMO APPROVED", "000000", "88888888", "", ""]),
            "01",
            us.join(["1234", "0", "0", "0", "0", "0", "12048", "2022"]),
            us.join(["1125", "1", "0523", "", "", "", "02", "", "", "", "0"]),
            us.join(["17", "P251125X", "20251125120000", ""]),
            us,
            "",
            "",
            us.join(["CARDBIN=541333", "PROGRAMTYPE=0", "SN=44332211", "DCC=N"]),
        ]
    ).encode()
    (event,) = decode_all(frame(payload))
    assert isinstance(event, GoodFrame)
    resp = decode_response(event.payload)
    result = m.result_from(resp, ecr_ref="P251125X", requested_cents=1234)
    assert isinstance(result, m.Approved)
    assert (result.approved_cents, result.last4, result.brand) == (1234, "1125", "MASTERCARD")
    assert result.entry_method is m.EntryMethod.SWIPE
    assert (result.auth_code, result.host_ref, result.terminal_ref) == ("000000", "88888888", "17")
    assert m.reply_ecr_ref(resp) == "P251125X"
