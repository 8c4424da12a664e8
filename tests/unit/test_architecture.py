"""The layer walls are code: import-linter's contracts from pyproject.toml must hold.

The contracts are run through the real `lint-imports` entry point, and the same run is shown to
fail on a copy of the tree with one planted violation per contract: a wall test that cannot fail
would be worth nothing (an earlier version ran a module with no `__main__` and always passed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(cwd))
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def _contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_import_contracts_hold() -> None:
    proc = _lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in proc.stdout


def _plant(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_each_contract_fails_on_a_planted_violation(tmp_path: Path) -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for part in config["tool"]["importlinter"]["root_packages"]:
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")

    # The untouched copy passes, so the failures below come from the plants alone.
    clean = _lint_imports(tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    _plant(tmp_path / "posplus_tui/domain/money.py", "import textual  # planted")
    _plant(tmp_path / "drivers/base.py", "import posplus_tui.domain  # planted")
    _plant(tmp_path / "gateways/__init__.py", "import posplus_tui.domain  # planted")
    _plant(tmp_path / "posplus_tui/ui/errors.py", "import sqlmodel  # planted")
    _plant(tmp_path / "posplus_tui/ledger/audit.py", "import posplus_tui.services  # planted")
    proc = _lint_imports(tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    names = [c["name"] for c in _contracts()]
    for name in names:
        assert f"{name} BROKEN" in out, out
    assert f"Contracts: 0 kept, {len(names)} broken." in out, out
    assert "posplus_tui.domain.money -> textual" in out, out
    assert "gateways -> posplus_tui.domain" in out, out


def test_every_top_level_package_is_walled() -> None:
    """A new top-level package (``gateways/`` is planned) must join the contracts when it lands.

    import-linter refuses a contract naming a package that does not exist yet, so the wall for
    ``gateways`` cannot be written ahead of it; this test makes its absence fail instead.
    """
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    roots = set(config["tool"]["importlinter"]["root_packages"])
    packages = {
        p.parent.name
        for p in ROOT.glob("*/__init__.py")
        if p.parent.name not in {"tests", "benchmarks"}
    }
    assert packages <= roots, f"add {sorted(packages - roots)} to [tool.importlinter] root_packages"
    standalone = next(c for c in _contracts() if str(c["name"]).startswith("stand-alone"))
    sources = set(standalone["source_modules"])
    assert packages - {"posplus_tui"} <= sources, (
        f"add {sorted(packages - {'posplus_tui'} - sources)} to the stand-alone contract"
    )
