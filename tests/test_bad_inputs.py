"""Bad inputs across the public API, the `eearly-train` CLI and the figure notebooks' papermill parameters.

Every case is a row of `CASES`: what is called, the exception type it must raise (for the CLI: exit status 2 with
`eearly-train: <message>` on stderr; for papermill: `PapermillExecutionError`) and a regex the message must match,
naming the field and, where there is a list, the valid values. Tiny models on the 8×8 digits keep it fast.
"""
import math, re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from eearly.data import dataset_info, get_dataloaders, load_dataset
from eearly.models import create_backbone
from eearly.heads import MultiExit, make_head
from eearly.evaluate import exit_scores, exit_curve, budget_accuracy, collect_logits, head_metrics, run_metrics
from eearly.methods import as_method
from eearly.regimes import fit, regime_phases, load_checkpoint, CheckpointError
from eearly.runs import RunConfig, main

ROOT = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=None)
def _dls():
    return get_dataloaders('digits', batch_size=64, val_frac=0, subset=200, test_subset=100, seed=0)

def _bb(num_classes=10, widths=(8, 16, 16)):
    torch.manual_seed(0)
    return create_backbone('cnn', num_classes, 1, 8, widths=widths)

def _tiny(num_classes=10, widths=(8, 16, 16)): return MultiExit(_bb(num_classes, widths), exits=['blocks.0', 'blocks.1'])

def _logits(k=3, n=20, c=10):
    g = torch.Generator().manual_seed(0)
    return torch.randn(k, n, c, generator=g), torch.randint(0, c, (n,), generator=g)

COSTS = [30, 65, 105]  # cumulative FLOPs of the three exits of `_logits`, on a backbone of 100

def _fit(model=None, regime='joint', dl=None, **kw):
    return fit(model or _tiny(), regime, _dls().train if dl is None else dl, phase_epochs=kw.pop('phase_epochs', (1,)), **kw)

def _other_arch_ckpt(tmp):
    "`last.pt` of a model with wider blocks, then the same fit config on the standard tiny model."
    _fit(_tiny(widths=(8, 16, 32)), ckpt_dir=tmp)
    _fit(ckpt_dir=tmp)

def _other_config_ckpt(tmp):
    _fit(ckpt_dir=tmp)
    _fit(ckpt_dir=tmp, phase_epochs=(2,))

def _truncated_ckpt(tmp):
    _fit(ckpt_dir=tmp)
    p = tmp/'last.pt'
    p.write_bytes(p.read_bytes()[:p.stat().st_size // 2])
    load_checkpoint(p)

def _empty_loader():
    return DataLoader(_dls().train.dataset.subset(np.array([], dtype=int)), batch_size=4)


@dataclass
class Cli:
    "Arguments of `eearly.runs.main`: it must return 2 and print `eearly-train: <message>` to stderr."
    argv: tuple

@dataclass
class Papermill:
    """Parameters of a figure notebook (`nbs/figs/fig_exit_costs.ipynb` unless `figure`): executing it must fail with
    the message in the traceback."""
    params: dict
    figure: str = 'fig_exit_costs'


def case(call, exc, match, id): return pytest.param(call, exc, match, id=id)

_DIGITS = ('dataset=digits', 'subset=200', 'test_subset=100', 'total_epochs=1', 'batch_size=64')

CASES = [
    # unknown names
    case(lambda t: get_dataloaders('mnist'), ValueError, r"dataset: unknown name 'mnist'; valid names: fashion_mnist, digits, cifar10, cifar100", 'unknown-dataset'),
    case(lambda t: create_backbone('resnet9', 10), ValueError, r"backbone: unknown name 'resnet9'; valid names: cnn, resnet20, resnet32, resnet34, .*vit_tiny, .*or tv:", 'unknown-backbone'),
    case(lambda t: create_backbone('tv:resnet9000', 10), ValueError, r"backbone: 'tv:resnet9000' is not a torchvision classification model; valid: .*tv:resnet18", 'unknown-tv-backbone'),
    case(lambda t: MultiExit(_bb(), head='attention'), ValueError, r"head: unknown name 'attention'; valid names: pooled, conv, linear, mlp", 'unknown-head'),
    case(lambda t: as_method('l2w'), ValueError, r"method: unknown name 'l2w'; valid names: sdn, pbee, ztw, gpf, gpf_eeb", 'unknown-method'),
    case(lambda t: regime_phases('sequential'), ValueError, r"regime: unknown name 'sequential'; valid names: joint, disjoint, mixed", 'unknown-regime'),
    case(lambda t: exit_scores(_logits()[0], 'margin'), ValueError, r"criterion: unknown name 'margin'; valid names: max_prob, entropy, patience", 'unknown-criterion'),
    case(lambda t: as_method(dict(name='sdn', weighting='focal')), ValueError, r"weighting: unknown name 'focal'; valid names: uniform, sdn_static, linear, gradeq", 'unknown-weighting'),
    case(lambda t: _fit(optimizer='lion'), ValueError, r"optimizer: unknown name 'lion'; valid names: sgd, adam, adamw", 'unknown-optimizer'),
    case(lambda t: load_dataset('digits', 'val'), ValueError, r"split: must be 'train' or 'test', got 'val'", 'unknown-split'),
    # wrong types
    case(lambda t: dataset_info(3), ValueError, r"dataset: unknown name 3; valid names: fashion_mnist, digits", 'dataset-int'),
    case(lambda t: MultiExit(_bb(), head=3), ValueError, r"head: must be a name \(pooled, conv, linear, mlp\), a list of them", 'head-int'),
    case(lambda t: as_method(3), ValueError, r"method: must be a name \(sdn, pbee, ztw, gpf, gpf_eeb\), a Method or a dict", 'method-int'),
    case(lambda t: as_method({'name': 'sdn', 'temperature': 2}), ValueError, r"method: unknown field\(s\) \['temperature'\]; valid fields: name, weighting", 'method-unknown-field'),
    case(lambda t: regime_phases(3), ValueError, r"regime: must be a name \(joint, disjoint, mixed\) or a list of phases", 'regime-int'),
    case(lambda t: _fit(lr='0.1'), ValueError, r"lr: learning rates must be positive numbers, got lr='0.1'", 'lr-str'),
    case(lambda t: _fit(phase_epochs=2), ValueError, r"phase_epochs: need one entry per phase \['all'\], got 2", 'phase-epochs-int'),
    case(lambda t: MultiExit(_bb(), exits=1.5), ValueError, r"exits: must be 'auto', a number of ICs or a list of names, got 1.5", 'exits-float'),
    case(lambda t: as_method(dict(name='sdn', distill='0.5')), ValueError, r"distill: must be in \[0, 1\], got '0.5'", 'distill-str'),
    # thresholds and budgets
    case(lambda t: exit_curve(*_logits(), COSTS, thresholds=[0.5, 1.5]), ValueError, r"thresholds: max_prob takes values in \[0, 1\] or inf, got \[1.5\]", 'threshold-above-1'),
    case(lambda t: exit_curve(*_logits(), COSTS, thresholds=[-0.1]), ValueError, r"thresholds: max_prob takes values in \[0, 1\] or inf, got \[-0.1\]", 'threshold-below-0'),
    case(lambda t: exit_curve(*_logits(), COSTS, thresholds=['high']), ValueError, r"thresholds: need numbers, got \['high'\]", 'threshold-str'),
    case(lambda t: exit_curve(*_logits(), COSTS, 'patience', thresholds=[0.5]), ValueError, r"thresholds: patience takes integers 1..3", 'threshold-patience'),
    case(lambda t: budget_accuracy(*_logits(), COSTS, 100, budgets=[0.5, 0]), ValueError, r"budgets: need positive fractions of backbone_flops", 'budget-zero'),
    case(lambda t: budget_accuracy(*_logits(), COSTS, 100, budgets=['half']), ValueError, r"budgets: need positive fractions of backbone_flops, got \['half'\]", 'budget-str'),
    case(lambda t: budget_accuracy(*_logits(), COSTS, 0), ValueError, r"backbone_flops: must be positive, got 0", 'backbone-flops-zero'),
    case(lambda t: exit_curve(*_logits(), COSTS[:2]), ValueError, r"costs: need 3 non-decreasing values", 'costs-too-few'),
    # empty data
    case(lambda t: collect_logits(_tiny(), []), ValueError, r"loader: yielded no batches", 'empty-eval-loader'),
    case(lambda t: _fit(dl=_empty_loader()), ValueError, r"train_dl: the loader is empty \(dataset of 0 items", 'empty-train-loader'),
    case(lambda t: _fit(dl=[]), ValueError, r"train_dl: need a DataLoader", 'train-loader-list'),
    case(lambda t: exit_curve(torch.zeros(3, 0, 10), torch.zeros(0), COSTS), ValueError, r"logits: need a \(K, N, C\) tensor of K exits, N ≥ 1 samples", 'empty-logits'),
    # mismatched classes and shapes
    case(lambda t: exit_curve(_logits()[0], _logits()[1] + 10, COSTS), ValueError, r"labels: must be class indices in \[0, 10\) for logits of 10 classes, got values from 1\d? to 19", 'labels-beyond-logit-classes'),
    case(lambda t: head_metrics(_logits(c=5)[0], _logits(c=10)[1]), ValueError, r"labels: must be class indices in \[0, 5\)", 'labels-vs-5-class-logits'),
    case(lambda t: exit_curve(_logits()[0], _logits()[1][:-1], COSTS), ValueError, r"labels: need shape \(20,\), one per sample", 'labels-count'),
    case(lambda t: MultiExit(_bb(), num_classes=5), ValueError, r"num_classes: 5 does not match the backbone's output size 10", 'head-num-classes'),
    case(lambda t: _fit(_tiny(num_classes=5)), ValueError, r"num_classes: the model has 5 classes but the labels of train_dl run from 0 to 9", 'model-vs-data-classes'),
    case(lambda t: make_head('conv', (5, 16), 7), ValueError, r"head: 'conv' takes features of shape 3-d", 'head-feature-rank'),
    # exits
    case(lambda t: MultiExit(_bb(), exits=['blocks.9']), ValueError, r"exits: 'blocks.9' is not a module of the backbone; candidates in forward order: blocks.0, blocks.1", 'exit-not-in-model'),
    case(lambda t: MultiExit(_bb(), exits=['blocks.1', 'blocks.0']), ValueError, r"exits: 'blocks.0' does not come after 'blocks.1'", 'exits-out-of-order'),
    case(lambda t: MultiExit(_bb(), exits=9), ValueError, r"exits: asked for 9 ICs; this backbone has room for 1 to \d", 'too-many-exits'),
    case(lambda t: MultiExit(create_backbone('vit_tiny', 10, in_chans=1, depth=2), input_shape=(1, 28, 28)), ValueError, r"input_shape: the backbone was built for 32×32 inputs, not 28×28; .*image_size=28", 'vit-built-for-32'),
    # checkpoints
    case(_other_arch_ckpt, CheckpointError, r"checkpoint: .*last.pt does not fit this model", 'checkpoint-other-architecture'),
    case(_other_config_ckpt, CheckpointError, r"checkpoint: .*last.pt was made by another run configuration \(differs in \['phases'\]\)", 'checkpoint-other-config'),
    case(_truncated_ckpt, CheckpointError, r"checkpoint: .*last.pt is corrupt or unreadable \(.*\); delete it", 'checkpoint-truncated'),
    # data options
    case(lambda t: get_dataloaders('digits', subset=5000), ValueError, r"subset: must be an int in \[1, 1437\] or a fraction in \(0, 1\], got 5000", 'subset-too-big'),
    case(lambda t: get_dataloaders('digits', subset='100'), ValueError, r"subset: must be an int in \[1, 1437\]", 'subset-str'),
    case(lambda t: get_dataloaders('digits', val_frac=1.0), ValueError, r"val_frac: must be in \[0, 1\), got 1.0", 'val-frac-1'),
    case(lambda t: get_dataloaders('digits', val_frac='0.1'), ValueError, r"val_frac: must be in \[0, 1\), got '0.1'", 'val-frac-str'),
    case(lambda t: get_dataloaders('digits', subset=50, val_frac=0.1), ValueError, r"val_frac: 0.1 of 50 items is 5, fewer than the 10 classes", 'val-frac-too-few'),
    case(lambda t: get_dataloaders('digits', batch_size=0), ValueError, r"batch_size: must be a positive int, got 0", 'batch-size-0'),
    case(lambda t: get_dataloaders('digits', batch_size=32.0), ValueError, r"batch_size: must be a positive int, got 32.0", 'batch-size-float'),
    case(lambda t: get_dataloaders('digits', test_subset=10_000), ValueError, r"test_subset: must be an int in \[1, 360\], got 10000", 'test-subset-too-big'),
    case(lambda t: RunConfig(total_epochs=0), ValueError, r"total_epochs: must be an int >= 1 \(or None\), got 0", 'runconfig-zero-epochs'),
    case(lambda t: _fit(phase_epochs=(0,)), ValueError, r"phase_epochs: \[0\] trains for no epoch at all", 'fit-zero-epochs'),
    case(lambda t: RunConfig.from_dict(dict(datset='digits')), ValueError, r"RunConfig: unknown field\(s\) \['datset'\]; valid fields: augment, backbone", 'runconfig-unknown-field'),
    # the CLI: exit status 2 and `eearly-train: <message>`, nothing written
    case(Cli(('datset=digits',)), 2, r"RunConfig: unknown field\(s\) \['datset'\]; valid fields:", 'cli-unknown-field'),
    case(Cli(('dataset=mnist',)), 2, r"dataset: unknown name 'mnist'; valid names: fashion_mnist, digits", 'cli-unknown-dataset'),
    case(Cli(_DIGITS + ('backbone=resnet9',)), 2, r"backbone: unknown name 'resnet9'; valid names: cnn", 'cli-unknown-backbone'),
    case(Cli(_DIGITS + ('method=l2w',)), 2, r"method: unknown name 'l2w'; valid names: sdn, pbee, ztw, gpf, gpf_eeb", 'cli-unknown-method'),
    case(Cli(_DIGITS + ('regime=sequential',)), 2, r"regime: unknown name 'sequential'; valid names: joint, disjoint, mixed", 'cli-unknown-regime'),
    case(Cli(_DIGITS[:-1] + ('batch_size=big',)), 2, r"batch_size: must be a positive int, got 'big'", 'cli-batch-size-str'),
    case(Cli(_DIGITS[:-2] + ('total_epochs=0', 'batch_size=64')), 2, r"total_epochs: must be an int >= 1 \(or None\), got 0", 'cli-zero-epochs'),
    case(Cli(_DIGITS + ('lr=fast',)), 2, r"lr: learning rates must be positive numbers, got lr='fast'", 'cli-lr-str'),
    case(Cli(_DIGITS + ('method_kw={weighting: focal}',)), 2, r"weighting: unknown name 'focal'; valid names: uniform", 'cli-unknown-weighting'),
    # papermill parameters of a figure notebook (few: each starts a kernel)
    case(Papermill(dict(backbones='resnet9')), 'papermill', r"backbone: unknown name 'resnet9'; valid names: cnn", 'papermill-backbones'),
    case(Papermill(dict(dataset='mnist')), 'papermill', r"dataset: unknown name 'mnist'; valid names: fashion_mnist, digits", 'papermill-dataset'),
    case(Papermill(dict(cells='cnn@500:q4'), 'fig_suitability'), 'papermill', r"cells: 'cnn@500:q4': the patience after ':' is p and a positive number", 'papermill-cell-patience'),
    case(Papermill(dict(cells='cnn@500,cnn@500'), 'fig_suitability'), 'papermill', r"cells: 'cnn@500,cnn@500' names a backbone and data setting twice", 'papermill-cell-twice'),
]


@pytest.mark.parametrize('call, exc, match', CASES)
def test_bad_input(call, exc, match, tmp_path, capsys):
    if isinstance(call, Cli):
        res = tmp_path/'results'
        rc = main(['--results-dir', str(res), *call.argv])
        err = capsys.readouterr().err
        assert rc == exc, err
        assert re.search(r'^eearly-train: ' + match, err, re.M), err
        assert not res.exists() or not any(res.iterdir()), 'a refused config must write nothing'
    elif isinstance(call, Papermill):
        import papermill as pm
        with pytest.raises(pm.PapermillExecutionError) as e:
            pm.execute_notebook(str(ROOT/'nbs'/'figs'/f'{call.figure}.ipynb'), str(tmp_path/'out.ipynb'), kernel_name='python3',
                                parameters=dict(call.params, out_dir=str(tmp_path/'fig')), progress_bar=False, cwd=str(ROOT))
        assert e.value.ename == 'ValueError'
        assert re.search(match, e.value.evalue), e.value.evalue
        assert not (tmp_path/'fig').exists()
    else:
        with pytest.raises(exc, match=match): call(tmp_path)


def test_table_is_large_enough():
    assert len(CASES) >= 24
    kinds = {type(c.values[0]).__name__ for c in CASES}
    assert {'Cli', 'Papermill', 'function'} <= kinds


def test_budget_below_the_first_exit_is_nan():
    "A FLOPs budget below the first exit's cost cannot be met: documented NaN (threshold, cost, accuracy), not an error."
    assert 'NaN' in budget_accuracy.__doc__
    z, y = _logits()
    tab = budget_accuracy(z, y, COSTS, 100, budgets=[0.1, 0.5], val_logits=z, val_labels=y)
    low = tab[tab.budget == 0.1]
    assert low.protocol.tolist() == ['test_sweep', 'oracle', 'calibrated']
    assert low[['threshold', 'val_cost', 'cost', 'accuracy']].isna().all().all()
    assert not tab[tab.budget == 0.5].accuracy.isna().any()  # a budget above exit 0's 30 % is met
    m = run_metrics(z, y, COSTS, 100, z, y, budgets=[0.1, 0.5])
    assert math.isnan(m['test_sweep/acc@10']) and math.isnan(m['calibrated/acc@10'])
    assert not math.isnan(m['test_sweep/acc@50'])
