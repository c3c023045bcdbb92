"""`apo optimize` runs with neither LangChain nor LlamaIndex importable (a CLI-only install)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

SCRIPT = """
import sys
for name in ('langchain_core', 'langchain', 'llama_index', 'llama_index.core'):
    sys.modules[name] = None  # importing them now fails, as without the extras
from apo_core.cli import app
try:
    app([sys.argv[1], sys.argv[2], '--out', sys.argv[3]], prog_name='apo')
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = [m for m in sys.modules if m.split('.')[0] in ('langchain_core', 'llama_index')
          and sys.modules[m] is not None]
print('LOADED=' + ','.join(loaded))
print('EXIT=' + str(code))
"""


def test_optimize_runs_without_any_framework(task_dir: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, "optimize", str(task_dir), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "EXIT=0" in out.stdout, out.stdout + out.stderr
    assert "LOADED=\n" in out.stdout
    assert (tmp_path / "run" / "result.json").exists()
