"""``posplus terminal sim | test | log`` against simulators in their own processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from posplus_tui.cli import main


def _start_sim(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "posplus_tui", "terminal", "sim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url:
        proc.kill()
        raise AssertionError(
            f"simulator did not start: {proc.stderr.read() if proc.stderr else ''}"
        )
    return proc, url


@pytest.fixture
def sim_process(request: pytest.FixtureRequest) -> Iterator[str]:
    proc, url = _start_sim(*request.param)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("sim_process", [("--tcp", "127.0.0.1:0")], indirect=True)
def test_test_command_ok_over_tcp(sim_process: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert sim_process.startswith("poslink+tcp://127.0.0.1:")
    assert main(["terminal", "test", sim_process]) == 0
    out = capsys.readouterr().out
    for layer in ("port", "bytes", "framing", "identify", "status"):
        assert f"[ok  ] {layer}" in out
    assert out.strip().endswith("OK") and "S300-SIM" in out


@pytest.mark.parametrize("sim_process", [("--tcp", "127.0.0.1:0")], indirect=True)
def test_test_command_ok_over_a_serial_socket_url_to_a_tcp_terminal(
    sim_process: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The serial driver through pyserial's socket:// (a serial device server, ser2net)."""
    address = sim_process.removeprefix("poslink+tcp://")
    assert main(["terminal", "test", f"poslink+serial:socket://{address}"]) == 0
    out = capsys.readouterr().out
    for layer in ("port", "bytes", "framing", "identify", "status"):
        assert f"[ok  ] {layer}" in out
    assert out.strip().endswith("OK")


@pytest.mark.parametrize("sim_process", [("--pty", "--baud", "115200")], indirect=True)
def test_test_command_ok_over_a_pty(sim_process: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert sim_process.startswith("poslink+serial:///dev/") and "baud=115200" in sim_process
    assert main(["terminal", "test", sim_process]) == 0
    assert capsys.readouterr().out.strip().endswith("OK")


@pytest.mark.parametrize(
    ("sim_process", "layer", "code", "hint"),
    [
        (("--tcp", "127.0.0.1:0", "--fault", "no_ack:5"), "bytes", 4, "check"),
        (("--tcp", "127.0.0.1:0", "--fault", "nak_storm:20"), "framing", 5, "baud"),
        (("--tcp", "127.0.0.1:0", "--fault", "no_reply"), "identify", 6, "menu"),
    ],
    indirect=["sim_process"],
)
def test_test_command_names_the_failing_layer(
    sim_process: str, layer: str, code: int, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["terminal", "test", f"{sim_process}?timeout=0.5&ack_timeout=0.3"]) == code
    captured = capsys.readouterr()
    assert f"[FAIL] {layer}" in captured.out
    assert f"FAILED at the {layer} layer" in captured.err and hint in captured.err


def test_test_command_port_and_url_failures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["terminal", "test", "poslink+serial:///dev/no-such-tty"]) == 3
    assert "FAILED at the port layer" in capsys.readouterr().err
    assert main(["terminal", "test", "poslink+tcp://127.0.0.1:1"]) == 3
    assert main(["terminal", "test", "ttyUSB0"]) == 2
    # Refused before anything is opened, in one sentence with an example (as in the settings).
    assert "poslink+serial:///dev/ttyUSB0?baud=9600" in capsys.readouterr().err


def test_test_command_without_url_or_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["terminal", "test"]) == 2
    assert "no terminal URL" in capsys.readouterr().err


@pytest.mark.parametrize("sim_process", [("--tcp", "127.0.0.1:0")], indirect=True)
def test_log_shows_hex_and_decoded_frames_with_card_data_masked(
    sim_process: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["terminal", "log", sim_process, "--sale", "12.34"]) == 0
    out = capsys.readouterr().out
    assert "→ frame     <STX>A00<FS>1.35<FS><ETX>[LRC 5B]" in out
    assert "02 41 30 30 1C 31 2E 33 35 1C 03 5B" in out
    assert "← ack" in out and "<STX>T00" in out and "sale → Approved VISA ••••1111" in out
    assert out.strip().endswith("OK")


def test_sim_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["terminal", "sim", "--tcp", "nohost", "--fault", "no_ack"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err
    assert main(["terminal", "sim", "--tcp", "127.0.0.1:0", "--fault", "meteor"]) == 2
    assert "unknown fault" in capsys.readouterr().err
