"""The shipped run store of the quick profile: a figure replots from it bit for bit, training nothing, and a stored run
retrains to the same weights and logits (CI's proof that the store is what the code trains)."""
import json
from pathlib import Path
import pytest
from eearly.io import cpu_isa, cpu_name
from eearly.store import make_figure, profile_store, stored_runs, verify

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT/'paper_figures'/'quick'
pytestmark = pytest.mark.skipif(not (profile_store('quick')).is_dir(), reason='no quick run store in this checkout')


def test_no_stored_run_is_stale():
    runs = stored_runs(profile_store('quick'))
    assert len(runs) and not runs.stale.any(), runs[runs.stale][['run', 'changed']].to_string()


def test_a_quick_figure_replots_from_the_store_bit_for_bit(tmp_path):
    assert make_figure('tab_budget', 'quick', tmp_path/'out', tmp_path/'run.ipynb', train=False) == 0
    for f in ('tab_budget.png', 'tab_budget.pdf', 'tab_budget.md', 'tab_budget.tex'):
        assert (tmp_path/'out'/f).read_bytes() == (QUICK/f).read_bytes(), f'{f} differs from the committed one'
    new, old = (json.loads(p.read_text()) for p in (tmp_path/'out'/'tab_budget.json', QUICK/'tab_budget.json'))
    for k in ('findings', 'headline', 'table', 'runs'): assert new[k] == old[k], k


def test_a_stored_quick_run_retrains_bit_identical():
    r = verify(profile_store('quick'), n=1, seed=0, max_train_seconds=60).iloc[0]
    trained = stored_runs(profile_store('quick')).set_index('run').trained_on[r.run]
    # bit-identity holds on the CPU kind (name and vector ISA; and the thread count, which verify matches) it trained on;
    # "AMD EPYC" names both AVX2 and AVX-512 machines, and runs stored before the ISA was recorded leave it unknown
    if trained['cpu'] == cpu_name() and trained.get('isa') == cpu_isa(): assert r.identical, r.to_dict()
    elif not r.identical: assert r.max_metric_diff < 0.05 and ('cpu' in r.why or 'isa' in r.why), r.to_dict()  # close, and says why
