"""Repository-level checks: packaging agrees with itself, figure notebooks are well-formed and papermill can drive them."""
import configparser, json, re, shlex, subprocess, sys
from pathlib import Path
import papermill as pm
import pytest
import yaml
from eearly.grids import figure_params

ROOT = Path(__file__).resolve().parents[1]
FIGS = sorted((ROOT/'nbs'/'figs').glob('*.ipynb'))
PROFILES = ('smoke', 'quick', 'default', 'paper')  # every figure has a YAML in each
ROW_PROFILES = ('paper_tiny_imagenet', 'paper_imagenet')  # single Table 1 rows: a few figures each, on data the paper profile lacks
FEW_PROFILES = ROW_PROFILES + ('msdnet_cpu',)  # profiles of a few figures; msdnet_cpu: MSDNet on the CPU, apart for its time


def _figs(profile):
    "The figure notebooks `make figures PROFILE=profile` makes: those with a YAML in the profile's folder."
    return [f for f in FIGS if (ROOT/'paper_figures'/'params'/profile/f'{f.stem}.yaml').exists()]


def _cfg():
    c = configparser.ConfigParser(delimiters=['='])
    c.read(ROOT/'settings.ini')
    return c['DEFAULT']


def _norm(req):
    "`name spec` with the name lower-cased and `-`/`_` unified, so `scikit_learn>=1` == `scikit-learn>=1`."
    m = re.match(r'\s*([A-Za-z0-9_.\-]+)\s*(.*)', req)
    return m.group(1).lower().replace('_', '-') + m.group(2).replace(' ', '')


def test_environment_yml_lists_the_settings_ini_packages():
    cfg = _cfg()
    ini = {_norm(r) for r in shlex.split(cfg['requirements']) + shlex.split(cfg['dev_requirements'])}
    env = yaml.safe_load((ROOT/'environment.yml').read_text())
    conda = [d for d in env['dependencies'] if isinstance(d, str)]
    pip = next(d['pip'] for d in env['dependencies'] if isinstance(d, dict))
    assert any(d.startswith('python=3.11') for d in conda)
    yml = {_norm(re.sub(r'^pytorch\b', 'torch', d)) for d in conda if not d.startswith('python=') and d != 'pip'}
    yml |= {_norm(d) for d in pip if not d.startswith('-e')}
    assert '-e .[dev]' in pip
    assert yml == ini, f'only in environment.yml: {sorted(yml - ini)}; only in settings.ini: {sorted(ini - yml)}'


def test_settings_keep_papermill_tags_and_test_flags():
    cfg = _cfg()
    assert cfg['allowed_cell_metadata_keys'].strip() == 'tags'
    assert cfg['tst_flags'].split() == ['notest', 'slow', 'cuda']


def test_library_notebooks_open_with_default_exp_title_and_summary():
    for nb in sorted((ROOT/'nbs').glob('[0-9]*.ipynb')):
        cells = json.loads(nb.read_text())['cells']
        assert ''.join(cells[0]['source']).startswith('#| default_exp '), nb.name
        md = ''.join(cells[1]['source']).splitlines()
        assert md[0].startswith('# ') and md[1].startswith('> '), nb.name


@pytest.mark.parametrize('fig', FIGS, ids=lambda p: p.stem)
def test_figure_notebook_has_one_parameters_cell_and_params_for_each_profile(fig):
    cells = json.loads(fig.read_text())['cells']
    tagged = [c for c in cells if 'parameters' in c.get('metadata', {}).get('tags', [])]
    assert len(tagged) == 1, f'{fig.name}: {len(tagged)} parameters cells'
    params = pm.inspect_notebook(str(fig))
    assigned = [l for l in ''.join(tagged[0]['source']).splitlines() if re.match(r'\w+\s*(:[^=]*)?=', l)]
    assert len(assigned) == len(params), f'{fig.name}: papermill parsed {sorted(params)} of {assigned}'  # e.g. a quote or = in a help comment
    assert {'out_dir', 'profile'} <= set(params), sorted(params)
    for name, p in params.items():
        assert p['help'], f'{fig.name}: parameter {name} has no help comment'
    for profile in PROFILES:
        f = ROOT/'paper_figures'/'params'/profile/f'{fig.stem}.yaml'
        assert f.exists(), f'missing {f.relative_to(ROOT)}'
        unknown = set(yaml.safe_load(f.read_text()) or {}) - set(params)
        assert not unknown, f'{f.relative_to(ROOT)} sets unknown parameters {sorted(unknown)}'
        runs = ROOT/'paper_figures'/'params'/profile/'_runs.yaml'
        shared = set(yaml.safe_load(runs.read_text()) or {}) if runs.exists() else set()
        if {'total_epochs', 'seeds'} <= set(params):  # a figure that trains runs takes every shared run parameter
            assert shared <= set(params), f'{fig.name} lacks shared parameters {sorted(shared - set(params))} of {runs.relative_to(ROOT)}'


@pytest.mark.parametrize('profile', FEW_PROFILES)
def test_few_figure_profiles_set_known_parameters_of_figures_that_exist(profile):
    "A profile of a few figures has YAMLs that each name a figure notebook and set only its parameters; a Table 1 row trains on its own dataset."
    d = ROOT/'paper_figures'/'params'/profile
    names = sorted(p.stem for p in d.glob('*.yaml') if p.name != '_runs.yaml')
    assert names and set(names) <= {f.stem for f in FIGS}, f'{d.relative_to(ROOT)}: no figure notebook for {sorted(set(names) - {f.stem for f in FIGS})}'
    shared = set(yaml.safe_load((d/'_runs.yaml').read_text()))
    for fig in _figs(profile):
        params = pm.inspect_notebook(str(fig))
        unknown = set(yaml.safe_load((d/f'{fig.stem}.yaml').read_text()) or {}) - set(params)
        assert not unknown, f'{profile}/{fig.stem}.yaml sets unknown parameters {sorted(unknown)}'
        if {'total_epochs', 'seeds'} <= set(params): assert shared <= set(params), (profile, fig.stem, sorted(shared - set(params)))
    if profile in ROW_PROFILES: assert figure_params('fig_acc_vs_flops', profile)['dataset'] != figure_params('fig_acc_vs_flops', 'paper')['dataset']


@pytest.mark.parametrize('profile', FEW_PROFILES)
def test_make_figures_makes_the_figures_a_profile_has_yamls_for(profile):
    "`make figures PROFILE=<profile of a few figures>` runs only its own few figures (the others have no YAML there); an unknown profile is refused."
    out = subprocess.run(['make', '-nB', 'figures', f'PROFILE={profile}'], cwd=ROOT, capture_output=True, text=True)
    assert sorted(set(re.findall(r'figure (\w+) \(', out.stdout))) == sorted(f.stem for f in _figs(profile)), out.stdout + out.stderr
    bad = subprocess.run(['make', '-n', 'figures', 'PROFILE=nope'], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode and 'PROFILE=nope: no folder paper_figures/params/nope; profiles: ' in bad.stderr, bad.stderr


def test_papermill_injects_parameters(tmp_path):
    "The path `make figures` takes: papermill must override the defaults (a stripped tag would silently not)."
    out = tmp_path/'figs'
    pm.execute_notebook(str(ROOT/'nbs'/'figs'/'fig_exit_costs.ipynb'), str(tmp_path/'run.ipynb'), kernel_name='python3',
                        parameters=dict(out_dir=str(out), profile='injected', backbones='cnn'), cwd=str(ROOT),
                        progress_bar=False)
    data = json.loads((out/'fig_exit_costs.json').read_text())
    assert data['profile'] == 'injected' and list(data['plain_flops']) == ['cnn']
    assert (out/'fig_exit_costs.png').exists() and (out/'fig_exit_costs.pdf').exists()


def test_readme_opens_with_the_two_commands_the_library_and_one_small_figure():
    "The first screen: the two commands and the library on your own model, within 60 lines; then one figure, every other linked."
    lines = (ROOT/'README.md').read_text().splitlines()
    images = [i for i, l in enumerate(lines) if l.startswith(('![', '<img'))]
    top = '\n'.join(lines[:images[0]])
    assert images[0] <= 60, f'the first figure is on line {images[0] + 1}'
    assert 'make test' in top and 'make figures' in top and 'MultiExit(' in top and 'RunConfig(' in top
    embedded = [lines[i] for i in images if 'paper_figures/' in lines[i]]
    assert len(embedded) == 1 and 'width=' in embedded[0], embedded
    assert not [f.stem for f in FIGS if f'(paper_figures/{f.stem}.png)' not in '\n'.join(lines)]


SHARED_RUN_PARAMS = ('dataset', 'subset', 'test_subset', 'total_epochs', 'batch_size', 'lr', 'seeds')


@pytest.mark.parametrize('profile', PROFILES + FEW_PROFILES)
def test_figures_of_a_profile_share_their_run_parameters(profile):
    "Figures share training runs through the cache only if they ask for identical runs: one value per shared key."
    seen = {}
    for fig in _figs(profile):
        params = {k: v['default'] for k, v in pm.inspect_notebook(str(fig)).items()}
        params.update(figure_params(fig.stem, profile))
        for k in SHARED_RUN_PARAMS:
            if k in params: seen.setdefault(k, {}).setdefault(str(params[k]).strip('"\''), []).append(fig.stem)
    split = {k: v for k, v in seen.items() if len(v) > 1}
    assert not split, f'{profile}: figures disagree on shared run parameters {split}'


def _profile_models(profile):
    "(backbone, dataset) of every model a profile's figures name, each at its dataset."
    out = set()
    for fig in _figs(profile):
        p = figure_params(fig.stem, profile)
        if 'dataset' not in p: continue
        out |= {(b, p['dataset']) for b in str(p.get('backbones', p.get('backbone', ''))).split(',') if b}
        for cell in [c for c in str(p.get('cells', '')).split(',') if c]:
            bb, data = cell.split('@')
            out.add((bb, p['dataset'] if data.isdigit() or data == 'all' else data))  # a size of the shared dataset, all of it, or another dataset
    return sorted(out)


@pytest.mark.parametrize('profile', ('quick', 'default', 'paper') + FEW_PROFILES)
def test_profile_backbones_and_datasets_exist(profile):
    "The GPU profile cannot run here, so check that what each profile names exists and builds (models at their data's input shape)."
    from eearly.data import DATASETS, dataset_info
    from eearly.models import create_backbone
    models = _profile_models(profile)
    assert models, f'{profile}: no figure names a backbone'
    for bb, data in models:
        assert data in DATASETS, f'{profile}: {bb} is to run on an unknown dataset {data!r}'
        info = dataset_info(data)
        m = create_backbone(bb, info.num_classes, info.in_chans, info.image_size)
        assert sum(q.numel() for q in m.parameters()) > 0, (profile, bb, data)


@pytest.mark.parametrize('name,data', sorted({m for p in ('paper',) + ROW_PROFILES for m in _profile_models(p)}))
def test_paper_models_take_one_step(name, data):
    "Every model of the paper profile and the Table 1 row profiles (Tiny-ImageNet 64×64, ImageNet 224×224) builds at its true input size and takes one SGD step on random data."
    import torch
    from eearly.data import dataset_info
    from eearly.heads import MultiExit
    from eearly.methods import Method, method_loss
    from eearly.models import create_backbone
    info = dataset_info(data)
    classes, shape = info.num_classes, info.input_shape
    torch.manual_seed(0)
    model = MultiExit(create_backbone(name, classes, shape[0], shape[1]))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss, _ = method_loss(model, Method(), model(torch.randn(2, *shape)), torch.randint(classes, (2,)))
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and model.n_exits >= 3
    assert all(p.grad is not None for p in model.heads.parameters())


def test_the_library_has_no_unused_imports():
    "pyflakes over the exported modules: an unused import (or an f-string without a placeholder) fails; imports only the examples use go in a test cell."
    mods = sorted(str(p) for p in (ROOT/'eearly').glob('*.py'))
    r = subprocess.run([sys.executable, '-m', 'pyflakes', *mods], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
