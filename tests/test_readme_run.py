"""The README's run command names what its example imports (a fresh machine has nothing else)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_run_command_installs_what_the_example_imports():
    readme = (ROOT / "README.md").read_text()
    run_cmd = re.findall(r"```bash\n(.*?)\n```", readme, re.S)[0]
    assert "examples/quickstart.py" in run_cmd and "modelyard server" in run_cmd
    example = (ROOT / "examples" / "quickstart.py").read_text()
    if "sklearn" in example:
        assert "[sklearn]" in run_cmd, "the example imports scikit-learn: the run command must install the extra"


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", text, re.S)


def test_ci_runs_the_readmes_test_command_verbatim_and_in_parallel():
    test_cmd = _bash_blocks((ROOT / "README.md").read_text())[1]
    assert "-m pytest" in test_cmd
    assert re.search(r"pytest .*-n (auto|\d+)", test_cmd), "the test command runs the suite with pytest-xdist"
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_cmd.strip() in ci_lines, "the README's test command, verbatim, is a line of .ci/run"
    assert "pytest-xdist" in (ROOT / "pyproject.toml").read_text()
