"""``python -m analognas``: the same CLI as the ``analognas`` script, for environments
where the script's folder is not on PATH (a venv used without activating it)."""

from __future__ import annotations

from analognas.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
