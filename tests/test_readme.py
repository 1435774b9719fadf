"""The README's promises that CI relies on."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    return [block.strip() for block in blocks if block.startswith("python3 -m venv")]


def test_ci_runs_the_readme_test_command():
    main_job, test_command = readme_commands()[:2]
    assert "pytest" in test_command and "examples/cartpole_blog.py" in main_job
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_readme_installs_the_cpu_torch_before_the_package():
    for command in readme_commands()[:2]:
        package_install = re.search(r"pip install (-q )?-e", command)
        assert package_install is not None
        assert 0 <= command.find("torch==2.13.0") < package_install.start()
