from posplus_tui.ui.app import PosPlusApp


def test_home_snapshot(snap_compare) -> None:
    assert snap_compare(PosPlusApp(station="Counter 1", environment="demo"), terminal_size=(80, 24))


async def test_quit_with_q() -> None:
    app = PosPlusApp(station="Counter 1", environment="demo")
    async with app.run_test() as pilot:
        assert "DEMO" in str(app.screen.query_one("#environment-banner").render())
        await pilot.press("q")
    assert app.return_code == 0
