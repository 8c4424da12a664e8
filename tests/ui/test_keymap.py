"""Every binding has an id and a tooltip; a user's keymap file moves keys by id; a broken keymap
file is reported in words and the usual keys stay."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.binding import Binding

from posplus_tui.keymap import KeymapError, load_keymap
from posplus_tui.ui.app import PosPlusApp
from posplus_tui.ui.keys import all_binding_ids
from posplus_tui.ui.screens import all_screens
from tests.ui.conftest import settle, sign_in, wait_for, wait_for_area

ROOT = Path(__file__).resolve().parents[2]


def _bindings(cls: type) -> list[Binding]:
    """The bindings POS+ declares (Textual's own, such as ctrl+c or tab, aside)."""
    return [
        b
        for base in cls.__mro__
        if base.__module__.startswith("posplus_tui.")
        for b in base.__dict__.get("BINDINGS", [])
        if isinstance(b, Binding)
    ]


def test_every_binding_has_an_id_and_a_tooltip() -> None:
    for cls in [PosPlusApp, *all_screens()]:
        actions_by_id: dict[str, set[str]] = {}
        for binding in _bindings(cls):
            assert binding.id, f"{cls.__name__}: {binding.key} → {binding.action} has no id"
            assert binding.tooltip, f"{cls.__name__}: {binding.id} has no tooltip"
            actions_by_id.setdefault(binding.id, set()).add(binding.action)
        # One id, one action: a keymap line never moves two different things.
        clashes = {
            i: a for i, a in actions_by_id.items() if len(a) > 1 and not i.startswith("app.")
        }
        assert not clashes, f"{cls.__name__}: {clashes}"


def test_every_key_is_bound_once() -> None:
    """The area keys live on the app alone: no screen binds a key the app binds, nor one of the
    app's actions, so a keymap line moves exactly one binding."""
    app_keys = {k for b in _bindings(PosPlusApp) for k in b.key.split(",")}
    app_actions = {b.action for b in _bindings(PosPlusApp)}
    for screen in all_screens():
        for binding in _bindings(screen):
            again = set(binding.key.split(",")) & app_keys
            assert not again, f"{screen.__name__} binds {again} again (the app binds it)"
            assert binding.action.removeprefix("app.") not in app_actions, (
                f"{screen.__name__} binds the app's {binding.action} again"
            )
    assert "app.go_reconcile" in all_binding_ids(PosPlusApp)


def _drawn(app: PosPlusApp) -> list[str]:
    """The keys the footer draws now, in order."""
    return [key for key, a in app.screen.active_bindings.items() if a.binding.show]


async def test_the_home_screen_draws_the_area_keys_and_a_task_screen_keeps_them_working(
    demo_app,
) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        await wait_for_area(pilot, "Lookup")
        drawn = _drawn(app)
        # A clerk's home: the areas a clerk works in, after the screen's own keys, before F1;
        # not Lookup itself (here already) and not Setup (an admin's).
        assert [k for k in drawn if k in ("f5", "f6", "f7", "f8", "ctrl+o", "ctrl+q")] == [
            "f6",
            "f7",
            "ctrl+o",
            "ctrl+q",
        ]
        assert drawn.index("ctrl+q") < drawn.index("f1")
        await pilot.press("f6")
        await wait_for_area(pilot, "Reconcile")
        assert not {"f5", "f6", "f7", "ctrl+o"} & set(_drawn(app))  # a task keeps its footer
        await pilot.press("f5")  # … and the keys still work there
        await wait_for_area(pilot, "Lookup")
        assert "f6" in _drawn(app)


def test_the_readme_lists_every_binding_id() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = sorted(i for i in all_binding_ids(PosPlusApp) if f"`{i}`" not in readme)
    assert not missing, f"README's Keymap section lacks {missing}"


def test_a_keymap_file_is_read_and_a_broken_one_explained(tmp_path: Path) -> None:
    assert load_keymap(tmp_path / "none.toml") == {}
    good = tmp_path / "keymap.toml"
    good.write_text('"app.go_reconcile" = "f2"\n', encoding="utf-8")
    assert load_keymap(good) == {"app.go_reconcile": "f2"}
    good.write_text('"app.go_reconcile" = f2\n', encoding="utf-8")
    with pytest.raises(KeymapError, match=r"not valid TOML.*usual keys apply"):
        load_keymap(good)
    good.write_text('"app.go_reconcile" = 2\n', encoding="utf-8")
    with pytest.raises(KeymapError, match="should name a key in quotes"):
        load_keymap(good)


async def test_a_keymap_moves_an_area_key_everywhere(demo_app) -> None:
    app = demo_app()
    app.set_keymap({"app.go_reconcile": "f2"})
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "supervisor", "2222")
        await wait_for_area(pilot, "Lookup")
        await pilot.press("f6")  # the old key does nothing now
        await settle(pilot)
        assert app.screen.AREA == "Lookup"
        await pilot.press("f2")
        await wait_for_area(pilot, "Reconcile")


async def test_a_broken_keymap_file_is_reported_and_the_usual_keys_stay(
    demo_app, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("POSPLUS_CONFIG_DIR", str(tmp_path))
    (tmp_path / "keymap.toml").write_text('"app.go_reconcile" = f2\n', encoding="utf-8")
    app = PosPlusApp(demo_app().services, status_every=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await wait_for(
            pilot, lambda: any("not valid TOML" in n.message for n in app._notifications)
        )
        await sign_in(pilot, "supervisor", "2222")
        await wait_for_area(pilot, "Lookup")
        await pilot.press("f6")
        await wait_for_area(pilot, "Reconcile")
