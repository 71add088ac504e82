"""Run every notebook under nbs/: library notebooks are the unit tests, figure notebooks run their smoke defaults."""
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb  # aliased so that pytest does not collect nbdev's own function

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
NOTEBOOKS = sorted(p for p in NBS.rglob('*.ipynb') if not any(s.startswith(('_', '.')) for s in p.relative_to(NBS).parts))


def test_found_notebooks():
    assert len(NOTEBOOKS) >= 6, NOTEBOOKS


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: str(p.relative_to(NBS)))
def test_notebook(nb):
    ok, _ = run_nb(nb, skip_flags=get_config(path=ROOT).tst_flags.split())
    assert ok, f'{nb.relative_to(ROOT)} failed: see the traceback in the captured stderr'
