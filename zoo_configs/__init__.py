"""The Zoo configs, installed as ``sb3_blogdqn.zoo_configs`` (see pyproject.toml): read them with ``importlib.resources``."""
