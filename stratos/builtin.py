"""The standard cartridges shipped with the core package (php, mysql, haproxy)."""

from __future__ import annotations

from pathlib import Path

CARTRIDGES_DIR = Path(__file__).parent / "cartridges"


def cartridge_dirs() -> list[Path]:
    return (
        sorted(p for p in CARTRIDGES_DIR.iterdir() if (p / "cartridge.yml").is_file())
        if CARTRIDGES_DIR.is_dir()
        else []
    )


def cartridge_file(name: str) -> Path:
    path = CARTRIDGES_DIR / name / "cartridge.yml"
    if not path.is_file():
        known = ", ".join(p.name for p in cartridge_dirs())
        raise FileNotFoundError(f"no built-in cartridge '{name}' (built-in: {known})")
    return path
