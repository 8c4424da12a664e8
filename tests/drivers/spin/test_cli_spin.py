"""``posplus terminal sim --protocol spin`` in its own process, and ``posplus terminal test`` naming
the failing layer of an HTTP terminal: address, TCP, HTTP, auth key, terminal online."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest

from posplus_tui.cli import main

KEY = "CliK3yK3y0"


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "posplus_tui", "terminal", "sim", "--protocol", "spin", *args],
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


@pytest.fixture(scope="module")
def spin_sim() -> Iterator[str]:
    proc, url = _start("--port", "0", "--tpn", "CLITPN0001", "--authkey", KEY)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_sim_prints_its_url_and_never_the_key(spin_sim: str) -> None:
    assert spin_sim.startswith("spin+http://127.0.0.1:") and spin_sim.endswith("?tpn=CLITPN0001")
    assert KEY not in spin_sim


def test_terminal_test_passes_every_layer(
    spin_sim: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSPLUS_TERMINAL_AUTHKEY", KEY)
    assert main(["terminal", "test", spin_sim]) == 0
    out = capsys.readouterr().out
    for layer in ("url", "address", "tcp", "http", "authkey", "online"):
        assert f"[ok  ] {layer}" in out
    assert out.strip().endswith("OK") and KEY not in out


def test_the_key_from_the_secret_store(spin_sim: str, capsys: pytest.CaptureFixture[str]) -> None:
    from posplus_tui.secrets import SecretStore

    SecretStore(tenant="default").set("terminal_authkey", KEY)
    assert main(["terminal", "test", spin_sim]) == 0
    assert KEY not in capsys.readouterr().out


@pytest.mark.parametrize(("key", "words"), [(None, "no auth key"), ("WRONGKEY00", "refused")])
def test_auth_key_layer(
    spin_sim: str,
    key: str | None,
    words: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if key:
        monkeypatch.setenv("POSPLUS_TERMINAL_AUTHKEY", key)
    assert main(["terminal", "test", spin_sim]) == 11
    captured = capsys.readouterr()
    assert "[FAIL] authkey" in captured.out and words in captured.out
    assert "FAILED at the authkey layer" in captured.err


def test_offline_terminal_fails_the_online_layer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proc, url = _start("--port", "0", "--authkey", KEY, "--fault", "offline:*")
    try:
        monkeypatch.setenv("POSPLUS_TERMINAL_AUTHKEY", KEY)
        assert main(["terminal", "test", url]) == 12
        assert "[FAIL] online" in capsys.readouterr().out
    finally:
        proc.terminate()
        proc.wait(10)


def test_address_tcp_and_http_layers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSPLUS_TERMINAL_AUTHKEY", KEY)
    assert main(["terminal", "test", "spin+http://no-such-host.invalid:9000?tpn=T1"]) == 8
    assert main(["terminal", "test", "spin+http://127.0.0.1:1?tpn=T1&connect_timeout=1"]) == 9

    async def not_http() -> int:  # a port that accepts and talks, but not HTTP
        async def greet(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b"\x02A01\x1c\x03hello\r\n\r\n")
            await w.drain()
            w.close()

        server = await asyncio.start_server(greet, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        from drivers.diagnostics import diagnose

        result = await diagnose(f"spin+http://127.0.0.1:{port}?tpn=T1", authkey=KEY)
        server.close()
        return result.exit_code

    assert asyncio.run(not_http()) == 10
    out = capsys.readouterr().out
    assert "[FAIL] address" in out and "[FAIL] tcp" in out


def test_a_key_in_the_url_is_refused_with_a_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["terminal", "test", "spin+http://10.0.0.5:9000?tpn=T1&authkey=SECRET999"]) == 2
    out = capsys.readouterr().err
    assert "never goes in the URL" in out and "SECRET999" not in out


def test_sim_refuses_mixed_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["terminal", "sim", "--protocol", "spin", "--tcp", "127.0.0.1:0"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["terminal", "sim", "--port", "0"]) == 2
    assert main(["terminal", "sim", "--protocol", "spin", "--port", "0", "--fault", "meteor"]) == 2
    assert "unknown fault" in capsys.readouterr().err


def test_a_station_killed_mid_sale_settles_by_status_and_the_records_say_so() -> None:
    """The simulator in its own process (it outlives the station): a sale whose caller dies
    mid-flight completes at the terminal; a fresh driver's status finds it, and the simulator's
    record of what it approved holds it once."""
    import json

    from drivers import Approved, open_terminal

    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "posplus_tui", "terminal", "sim", "--protocol", "spin"),
            *("--port", "0", "--authkey", KEY, "--card-wait-ms", "300", "--control-stdin"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        url = proc.stdout.readline().strip()

        async def scenario() -> object:
            first = open_terminal(url, authkey=KEY)
            sale = asyncio.ensure_future(first.sale(4321, "PKILL1"))
            await asyncio.sleep(0.1)
            sale.cancel()  # the station dies while the terminal waits for the card
            await asyncio.gather(sale, return_exceptions=True)
            await first.close()
            await asyncio.sleep(0.4)
            second = open_terminal(url, authkey=KEY)
            try:
                return await second.status("PKILL1")
            finally:
                await second.close()

        settled = asyncio.run(scenario())
        assert isinstance(settled, Approved) and settled.approved_cents == 4321
        proc.stdin.write("records\n")
        proc.stdin.flush()
        records = json.loads(proc.stdout.readline())
        assert records["approvals"] == [{"type": "Sale", "reference_id": "PKILL1", "cents": 4321}]
        proc.stdin.write("fault meteor\n")
        proc.stdin.flush()
        assert "unknown fault" in json.loads(proc.stdout.readline())["error"]
    finally:
        proc.stdin.close()
        proc.wait(10)
