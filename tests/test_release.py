"""Release and documentation bookkeeping: one version everywhere, a changelog section for it,
an API page for every public name, a README of one screen."""

import inspect
import re
from pathlib import Path

import keras_gaussconv

ROOT = Path(__file__).resolve().parent.parent


def test_one_version_everywhere():
    assert keras_gaussconv.__version__ == "0.2.0"
    # pyproject.toml reads the version from the package (dynamic), so a built wheel's
    # metadata cannot disagree with it (.ci/run checks the wheel it builds).
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'version = {attr = "keras_gaussconv.__version__"}' in pyproject
    assert not re.search(r"^version\s*=\s*\"", pyproject, re.M)
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(keras_gaussconv.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M)
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{keras_gaussconv.__version__}]")


def test_every_public_class_and_function_has_an_api_page_in_the_nav():
    public = [
        name for name, value in vars(keras_gaussconv).items()
        if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
    ]
    assert "GaussianDerivativeConv2D" in public and "count_parameters" in public
    pages = {page.stem: page.read_text() for page in (ROOT / "docs" / "api").glob("*.md")}
    everything = "\n".join(pages.values())
    nav = (ROOT / "mkdocs.yml").read_text()
    for name in public:
        documented = f"::: keras_gaussconv.{name}\n" in everything or (
            f"::: {getattr(keras_gaussconv, name).__module__}\n" in everything
        )
        assert documented, f"no API page documents keras_gaussconv.{name}"
    for page in pages:
        assert f"api/{page}.md" in nav, f"docs/api/{page}.md is not in mkdocs.yml's nav"
    for module in ("bases", "ops", "models", "export", "compat", "datasets", "plotting", "utils"):
        assert f"::: keras_gaussconv.{module}\n" in everything, module


def test_readme_is_one_screen_and_links_exist():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme):
        assert (ROOT / target).exists(), f"README links to a missing file: {target}"
