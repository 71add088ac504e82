"""Run every notebook under nbs/: library notebooks are the unit tests, figure notebooks run their smoke defaults."""
import re
from pathlib import Path
import papermill as pm
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


# seaborn draws some of its marks at random: bootstrapped error bars, jittered dots. Such a figure must not change when it
# is made again from the same runs (issue 12: PDFs byte-identical across reruns).
RANDOM_MARKS = re.compile(r'sns\.(barplot|lineplot|pointplot|stripplot|swarmplot|regplot)\(')
RANDOM_MARK_FIGURES = [p for p in NOTEBOOKS if p.parent.name == 'figs' and RANDOM_MARKS.search(p.read_text())]


@pytest.mark.parametrize('nb', RANDOM_MARK_FIGURES, ids=lambda p: p.stem)
def test_figure_is_byte_identical_when_made_again(nb, tmp_path):
    outs = [tmp_path/'a', tmp_path/'b']
    for out in outs: pm.execute_notebook(str(nb), str(out.with_suffix('.ipynb')), parameters=dict(out_dir=str(out)), cwd=str(ROOT), progress_bar=False)
    for ext in ('pdf', 'png'):
        a, b = (out/f'{nb.stem}.{ext}' for out in outs)
        assert a.read_bytes() == b.read_bytes(), f'{nb.stem}.{ext} differs when made again from the same runs: seed what draws at random'
