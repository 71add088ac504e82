# Voilà settings of `make explore` and tests/test_browser.py (`voila --Voila.config_file_paths=app nbs/explore.ipynb`):
# nbs/explore.ipynb as a web app. The notebook stays the source; this hook only decides which of its cells the app runs.
c = get_config()  # noqa: F821 (traitlets defines it when it loads this file)


def app_cells(req, notebook, cwd):
    "Keep what the app needs: drop cells tagged `notebook-only` (docs tables, headless checks) and untagged markdown."
    def shown(cell):
        tags = cell.metadata.get('tags', [])
        if 'notebook-only' in tags: return False  # the checks drive the widgets and would leave the app on their last state
        return cell.cell_type == 'code' or 'app' in tags  # markdown is documentation unless tagged `app`
    notebook.cells = [cell for cell in notebook.cells if shown(cell)]
    return notebook


c.VoilaConfiguration.prelaunch_hook = app_cells
c.VoilaConfiguration.strip_sources = True  # code hidden (Voilà's default, stated because the app relies on it)
c.VoilaConfiguration.show_tracebacks = False
c.Voila.open_browser = False
