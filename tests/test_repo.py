"""Repository-level checks: packaging agrees with itself, figure notebooks are well-formed and papermill can drive them."""
import configparser, json, re, shlex
from pathlib import Path
import papermill as pm
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FIGS = sorted((ROOT/'nbs'/'figs').glob('*.ipynb'))
PROFILES = ('smoke', 'default', 'paper')


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
    assert {'out_dir', 'profile'} <= set(params), sorted(params)
    for name, p in params.items():
        assert p['help'], f'{fig.name}: parameter {name} has no help comment'
    for profile in PROFILES:
        f = ROOT/'paper_figures'/'params'/profile/f'{fig.stem}.yaml'
        assert f.exists(), f'missing {f.relative_to(ROOT)}'
        unknown = set(yaml.safe_load(f.read_text()) or {}) - set(params)
        assert not unknown, f'{f.relative_to(ROOT)} sets unknown parameters {sorted(unknown)}'


def test_papermill_injects_parameters(tmp_path):
    "The path `make figures` takes: papermill must override the defaults (a stripped tag would silently not)."
    out = tmp_path/'figs'
    pm.execute_notebook(str(ROOT/'nbs'/'figs'/'fig_exit_costs.ipynb'), str(tmp_path/'run.ipynb'), kernel_name='python3',
                        parameters=dict(out_dir=str(out), profile='injected', backbones='cnn'), cwd=str(ROOT),
                        progress_bar=False)
    data = json.loads((out/'fig_exit_costs.json').read_text())
    assert data['profile'] == 'injected' and list(data['plain_flops']) == ['cnn']
    assert (out/'fig_exit_costs.png').exists() and (out/'fig_exit_costs.pdf').exists()


def test_readme_shows_the_two_commands():
    readme = (ROOT/'README.md').read_text()
    assert 'make test' in readme and 'make figures' in readme
