"""
Compare BlogDQN with stock SB3 DQN and QR-DQN over many seeds, and report rliable's statistics (computed with SciPy).

``python -m sb3_blogdqn.compare --env CartPole-v1 --seeds 10 --jobs 2`` runs the default
configurations (:data:`~sb3_blogdqn.compare.presets.DEFAULT_CONFIGS`) and writes a results
folder with its report; ``python -m sb3_blogdqn.compare report DIR [DIR ...]`` merges folders.
"""

try:  # the tool's own dependencies come with its extra
    import rl_zoo3  # noqa: F401
    import scipy  # noqa: F401
    import yaml  # noqa: F401
except ImportError as error:
    raise ImportError(
        f"The comparison tool needs {error.name}, which comes with its extra: pip install 'sb3-blogdqn[compare]'"
    ) from error

from sb3_blogdqn.compare.presets import ABLATION_CONFIGS, DEFAULT_CONFIGS, PRESETS, load_configs, resolve
from sb3_blogdqn.compare.runner import Job, plan_jobs, run_jobs, shard

__all__ = [
    "ABLATION_CONFIGS",
    "DEFAULT_CONFIGS",
    "PRESETS",
    "Job",
    "load_configs",
    "plan_jobs",
    "resolve",
    "run_jobs",
    "shard",
]
