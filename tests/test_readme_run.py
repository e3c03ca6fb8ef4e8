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
