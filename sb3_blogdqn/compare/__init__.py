"""
Compare BlogDQN with stock SB3 DQN and QR-DQN over many seeds, and report with rliable.

``python -m sb3_blogdqn.compare --env CartPole-v1 --seeds 10 --jobs 2`` runs the default
configurations (:data:`~sb3_blogdqn.compare.presets.DEFAULT_CONFIGS`) and writes a results
folder with its report; ``python -m sb3_blogdqn.compare report DIR [DIR ...]`` merges folders.
"""

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
