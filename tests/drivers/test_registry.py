"""Terminal URLs: the accepted forms, and errors that show a correct example."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from drivers import Approved, TerminalUrlError, Unknown, open_terminal, parse_url


@pytest.mark.parametrize(
    ("url", "kind", "key", "value"),
    [
        ("poslink+serial:///dev/ttyUSB0?baud=9600", "serial", "port", "/dev/ttyUSB0"),
        ("poslink+serial://COM3?baud=115200", "serial", "baud", 115200),
        ("poslink+serial:socket://10.0.0.5:4000", "serial", "port", "socket://10.0.0.5:4000"),
        ("poslink+tcp://192.168.1.50:10009", "tcp", "port", 10009),
        ("poslink+tcp://terminal.local", "tcp", "port", 10009),
        ("sim://?delay_ms=0&card_wait_ms=1500", "sim", "card_wait_ms", 1500),
        ("sim://shop?fault=lost_reply:2", "sim", "faults", [("lost_reply", 2)]),
    ],
)
def test_good_urls(url: str, kind: str, key: str, value: object) -> None:
    got_kind, cfg = parse_url(url)
    assert got_kind == kind and cfg[key] == value


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "empty"),
        ("/dev/ttyUSB0", "no scheme"),
        ("ftp://x", "unknown scheme"),
        ("poslink+serial://ttyUSB0", "not a device path"),
        ("poslink+serial:///dev/ttyUSB0?baud=9601", "standard speed"),
        ("poslink+serial:///dev/ttyUSB0?speed=9600", "unknown option"),
        ("poslink+tcp://:10009", "no host"),
        ("poslink+tcp://host:99999", "port"),
        ("poslink+tcp://host:1?timeout=abc", "not a number"),
        ("sim://?fault=meteor", "unknown fault"),
    ],
)
def test_bad_urls_say_what_is_wrong_and_show_an_example(url: str, problem: str) -> None:
    with pytest.raises(TerminalUrlError) as info:
        parse_url(url)
    assert problem in str(info.value)
    assert "poslink+serial:///dev/ttyUSB0?baud=9600" in str(info.value)
    assert isinstance(info.value, ValueError)


async def test_named_sim_is_shared_between_opens() -> None:
    a = open_terminal("sim://shared-test-1")
    b = open_terminal("sim://shared-test-1")
    r = await a.sale(1009, "PSH1")
    assert isinstance(r, Unknown)
    assert isinstance(await b.status("PSH1"), Approved)


async def test_simulator_in_another_process_outlives_its_client() -> None:
    """``python -m drivers.simulator --tcp 127.0.0.1:0`` prints its URL; a client that dies
    mid-exchange leaves the terminal's record for the next client to find."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drivers.simulator",
        "--tcp",
        "127.0.0.1:0",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert url.startswith("poslink+tcp://127.0.0.1:")
        first = open_terminal(f"{url}?timeout=1")
        assert isinstance(await first.sale(1009, "PPR1"), Unknown)  # reply lost after approval
        await first.close()
        second = open_terminal(url)
        settled = await second.status("PPR1")
        assert isinstance(settled, Approved) and settled.approved_cents == 1009
        await second.close()
    finally:
        proc.terminate()
        await proc.wait()


async def test_simulator_process_takes_faults_on_stdin() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drivers.simulator",
        "--tcp",
        "127.0.0.1:0",
        "--control-stdin",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        proc.stdin.write(b"fault lost_reply 1\n")
        await proc.stdin.drain()
        assert b'"ok": true' in await asyncio.wait_for(proc.stdout.readline(), 10)
        term = open_terminal(f"{url}?timeout=1")
        assert isinstance(await term.sale(1000, "PCT1"), Unknown)
        proc.stdin.write(b"records\n")
        await proc.stdin.drain()
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        records = json.loads(line)["records"]
        assert [(r["ecr_ref"], r["approved_cents"]) for r in records] == [("PCT1", 1000)]
        proc.stdin.write(b"fault meteor\n")
        await proc.stdin.drain()
        assert (
            "unknown fault"
            in json.loads(await asyncio.wait_for(proc.stdout.readline(), 10))["error"]
        )
        proc.stdin.close()  # the parent going away stops the simulator
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
