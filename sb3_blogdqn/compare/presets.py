"""
Named configurations the comparison runs, and their resolution into one run's spec.

A configuration is data, so a YAML file can define more of them (``--configs my.yml``)::

    my-dqn:                  # the name keys the runs and labels the report
      algo: dqn              # blogdqn | dqn | qrdqn
      zoo: true              # start from the installed RL Zoo's tuned hyperparameters for the env
      hyperparams:           # RL Zoo style, applied on top (policy_kwargs may be a string)
        learning_rate: 1.0e-3
    my-blog:
      base: blogdqn          # extend another configuration
      max_episodes: 200      # episode budget (StopTrainingOnMaxEpisodes) instead of n_timesteps

``exploration_steps`` (top level) makes ε of SB3's DQN decay over that many env steps
whatever the budget: it becomes ``exploration_fraction = exploration_steps / n_timesteps``.

Hyperparameters stay in the RL Zoo's form until a worker builds the model with the Zoo's
own preprocessing (:func:`sb3_blogdqn.compare.runner.zoo_preprocess`), so the spec stored
with every run is exactly what a user would put in a Zoo YAML file.
"""

import argparse
import contextlib
import copy
import io
from typing import Any

import gymnasium as gym
import yaml
from rl_zoo3.exp_manager import ExperimentManager

ALGOS = ("blogdqn", "dqn", "qrdqn")

# The blog's constructor defaults (BLOG_SEMANTICS.md) are BlogDQN's defaults: no hyperparameters.
BLOG_EPISODES = 400

# Stock SB3 DQN with the blog's settings where DQN has a knob for them. Not expressible: the
# frozen StandardScaler (B4), warm-up and ε per full-history decision (B2, B6, B8), all-action
# MSE loss (B10, DQN uses Huber on the taken action), per-sample Adam steps (B11), the
# episode-step target copy (B13), Keras' Adam and Glorot init (B12). B14 would be expressible
# (replay_buffer_kwargs handle_timeout_termination=False) but is left at SB3's default, as in
# the reference results made with this preset.
DQN_BLOGLIKE_HYPERPARAMS: dict[str, Any] = {
    "policy": "MlpPolicy",
    "frame_stack": 4,  # B1, zero-padded at reset instead of B2's random steps
    "learning_rate": 1e-3,
    "buffer_size": 2000,
    "learning_starts": 32,
    "batch_size": 32,
    "gamma": 0.99,
    "train_freq": 1,
    "gradient_steps": 1,
    "target_update_interval": 100,
    "exploration_initial_eps": 1.0,
    "exploration_final_eps": 1e-4,
    "max_grad_norm": 1e10,  # the blog clips nothing (B10)
    "policy_kwargs": "dict(net_arch=[20, 20, 10], optimizer_kwargs=dict(eps=1e-7))",  # B12
}

# dqn-bloglike with the blog's inputs instead of frame_stack: the history padded with the first
# state (B1, B3) and a StandardScaler frozen after fitting on 32 full histories of random play
# (B4: the size of the blog's warm-up, B6, skipping B2's 3 padded histories at each episode
# start, as the blog stores none). Its random play is not the DQN's own warm-up (learning_starts
# below): both are random, but the scaler plays first, then the env is reset. Beside
# dqn-bloglike it shows what the blog's inputs do for stock DQN updates; beside blogdqn, what
# the blog's updates (B8-B13) add.
DQN_BLOGLIKE_INPUTS_HYPERPARAMS: dict[str, Any] = {
    **{key: value for key, value in DQN_BLOGLIKE_HYPERPARAMS.items() if key != "frame_stack"},
    "vec_env_wrapper": [
        {"sb3_blogdqn.VecHistory": {"history_length": 4}},
        {"sb3_blogdqn.VecStandardScaler": {"n_fit_samples": 32, "skip_episode_start": 3}},
    ],
}

# The MinAtar paper's DQN (Young & Tian, 2019, "MinAtar: An Atari-Inspired Testbed for Thorough and
# Reproducible Reinforcement Learning Experiments", arXiv:1903.03176; the constants of its
# examples/dqn.py): its network (MinAtarCNN), a replay memory of 100,000, minibatches of 32, one
# update per step after 5,000 steps of random play, centred RMSProp (step size 2.5e-4, squared-gradient
# momentum 0.95, minimum squared gradient 0.01), the target network copied every 1,000 steps, the Huber
# loss, no clipping, γ 0.99, ε from 1 to 0.1 over 100,000 steps (the paper counts them after the random
# play, SB3 from the first step). The budget is 1M steps, where the paper trains 5M frames.
_MINATAR_POLICY_KWARGS = ("features_extractor_class=sb3_blogdqn.MinAtarCNN, optimizer_class=th.optim.RMSprop, "
                          "optimizer_kwargs=dict(alpha=0.95, eps=0.01, centered=True)")
MINATAR_DQN_HYPERPARAMS: dict[str, Any] = {
    "policy": "CnnPolicy",
    "n_timesteps": 1_000_000,
    "buffer_size": 100_000,
    "batch_size": 32,
    "learning_rate": 2.5e-4,
    "gamma": 0.99,
    "learning_starts": 5000,
    "train_freq": 1,
    "gradient_steps": 1,
    "target_update_interval": 1000,
    "exploration_initial_eps": 1.0,
    "exploration_final_eps": 0.1,
    "max_grad_norm": 1e10,
    "policy_kwargs": f"dict({_MINATAR_POLICY_KWARGS})",
}
# QR-DQN on them with 50 quantiles, not sb3-contrib's default of 200 (the QR-DQN paper's, for Atari):
# the loss compares every pair of quantiles, so its cost grows as their square: at 200, 43 env steps/s
# on this small network (6.5 hours per 1M-step run on one core of the development machine), at 50,
# 325 env steps/s, where SB3's DQN runs 395 (`python benchmarks/quantile_cost.py`, benchmarks/README.md).
MINATAR_QRDQN_HYPERPARAMS: dict[str, Any] = {
    **MINATAR_DQN_HYPERPARAMS,
    "policy_kwargs": f"dict({_MINATAR_POLICY_KWARGS}, n_quantiles=50)",
}

# The Atari 100k budget (Kaiser et al., 2019: 100,000 agent steps, 400,000 frames) on the RL Zoo's
# `atari:` entries, where the Zoo's own schedule (10M steps, learning after 100,000) would not learn at
# all: SB3's DQN with the Zoo's Atari hyperparameters (AtariWrapper, 4 stacked frames, NatureCNN,
# memory 100,000, Adam 1e-4, one update of 32 every 4 steps, target every 1,000, ε to 0.01 over 10%)
# but learning after 1,600 steps (data-efficient Rainbow's, van Hasselt et al., 2019), ε over the first
# 10,000; BlogDQN with zoo_configs/blogdqn.yml's `atari:` entry (the blog's settings on the same
# frames) but one Adam step on the minibatch (B11's 32 per-sample steps through the CNN run at about
# 4 env steps/s here, 7 hours per run: benchmarks/image_throughput.md).
ATARI_100K_STEPS = 100_000
DQN_ATARI_100K_HYPERPARAMS: dict[str, Any] = {"n_timesteps": ATARI_100K_STEPS, "learning_starts": 1600}
BLOGDQN_ATARI_100K_HYPERPARAMS: dict[str, Any] = {"n_timesteps": ATARI_100K_STEPS, "per_sample_updates": False}

# BlogDQN switches turned, one at a time, to what standard DQN does (README option table).
ABLATION_SWITCHES: dict[str, dict[str, Any]] = {
    "b8": {"exploration_fraction": 0.1},  # SB3's linear ε over 10% of the budget, not 1000 decisions
    "b10": {"loss_on_all_actions": False},  # MSE on the taken action only
    "b11": {"per_sample_updates": False},  # one Adam step on the minibatch of 32
    "b13": {"target_update_on_episode_step": False},  # copy every 100 global steps
    "b14": {"handle_timeout_termination": True},  # bootstrap through time-limit truncation
}


def _ablation_presets() -> dict[str, dict[str, Any]]:
    presets = {
        f"blogdqn-std-{rule}": {"base": "blogdqn", "hyperparams": dict(switch)} for rule, switch in ABLATION_SWITCHES.items()
    }
    presets["blogdqn-std-all"] = {
        "base": "blogdqn",
        "hyperparams": {key: value for switch in ABLATION_SWITCHES.values() for key, value in switch.items()},
    }
    return presets


PRESETS: dict[str, dict[str, Any]] = {
    "blogdqn": {"algo": "blogdqn", "max_episodes": BLOG_EPISODES},
    "dqn-zoo": {"algo": "dqn", "zoo": True},
    "dqn-bloglike": {
        "algo": "dqn",
        "zoo_budget": True,  # the Zoo's n_timesteps for the env, the same budget as dqn-zoo
        "exploration_steps": 1000,  # the blog's final_expl_step
        "hyperparams": DQN_BLOGLIKE_HYPERPARAMS,
    },
    "dqn-bloglike-inputs": {
        "algo": "dqn",
        "zoo_budget": True,
        "exploration_steps": 1000,
        "hyperparams": DQN_BLOGLIKE_INPUTS_HYPERPARAMS,
    },
    "qrdqn-zoo": {"algo": "qrdqn", "zoo": True},
    # SB3's DQN and sb3-contrib's QR-DQN with the MinAtar paper's DQN settings, for the MinAtar/*-v1 envs.
    "dqn-minatar": {"algo": "dqn", "exploration_steps": 100_000, "hyperparams": MINATAR_DQN_HYPERPARAMS},
    "qrdqn-minatar": {"algo": "qrdqn", "exploration_steps": 100_000, "hyperparams": MINATAR_QRDQN_HYPERPARAMS},
    # BlogDQN with each env's entry of the shipped zoo_configs/blogdqn.yml: the blog's settings, and
    # CnnPolicy on MinAtar's and Atari's frames, where the plain blogdqn preset builds an MLP.
    "blogdqn-entry": {"algo": "blogdqn", "zoo_config": "blogdqn"},
    # Atari at the 100k budget, for *NoFrameskip-v4 envs.
    "dqn-atari100k": {"algo": "dqn", "zoo": True, "exploration_steps": 10_000, "hyperparams": DQN_ATARI_100K_HYPERPARAMS},
    # The step budget ends its runs, not B15's 400 episodes (a life is an episode under AtariWrapper).
    "blogdqn-atari100k": {"algo": "blogdqn", "zoo_config": "blogdqn", "max_episodes": ATARI_100K_STEPS,
                          "hyperparams": BLOGDQN_ATARI_100K_HYPERPARAMS},
    # The tuned BlogDQN: each env's entry of the shipped zoo_configs/blogdqn_tuned.yml, budget included.
    "blogdqn-tuned": {"algo": "blogdqn", "zoo_config": "blogdqn_tuned"},
    **_ablation_presets(),
}
DEFAULT_CONFIGS = ("blogdqn", "dqn-zoo", "dqn-bloglike", "qrdqn-zoo")
ABLATION_CONFIGS = tuple(name for name in PRESETS if name.startswith("blogdqn-std-"))

# The configuration keys a preset may use, besides "base".
_KEYS = {"algo", "zoo", "zoo_budget", "zoo_config", "hyperparams", "max_episodes", "exploration_steps"}


def load_configs(names_or_files: list[str]) -> dict[str, dict[str, Any]]:
    """Preset names and YAML files of named configurations, in the order given."""
    configs: dict[str, dict[str, Any]] = {}
    for item in names_or_files:
        if item.endswith((".yml", ".yaml")):
            with open(item) as file:
                defined = yaml.safe_load(file) or {}
            if not isinstance(defined, dict):
                raise ValueError(f"{item} must map configuration names to configurations, see `--list-presets`.")
            for name, config in defined.items():
                configs[name] = _flatten(name, config, {**PRESETS, **defined})
        elif item in PRESETS:
            configs[item] = _flatten(item, PRESETS[item], PRESETS)
        else:
            raise ValueError(f"Unknown configuration {item!r}: use a preset ({', '.join(PRESETS)}) or a .yml file.")
    return configs


def _flatten(name: str, config: dict[str, Any], known: dict[str, dict[str, Any]], depth: int = 0) -> dict[str, Any]:
    """Resolve ``base`` chains: the base's hyperparameters, updated by the config's own."""
    unknown = set(config) - _KEYS - {"base"}
    if unknown:
        raise ValueError(f"Configuration {name!r} has unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS | {'base'})}.")
    config = copy.deepcopy(config)
    base_name = config.pop("base", None)
    if base_name is None:
        if config.get("algo") not in ALGOS:
            raise ValueError(f"Configuration {name!r} needs 'algo' (one of {ALGOS}) or a 'base'.")
        return config
    if base_name not in known or depth > 10:
        raise ValueError(f"Configuration {name!r} extends unknown (or circular) base {base_name!r}.")
    base = _flatten(base_name, known[base_name], known, depth + 1)
    hyperparams = {**base.get("hyperparams", {}), **config.pop("hyperparams", {})}
    return {**base, **config, "hyperparams": hyperparams}


def zoo_hyperparams(algo: str, env_id: str) -> dict[str, Any]:
    """The installed RL Zoo's tuned hyperparameters (``rl_zoo3/hyperparams/<algo>.yml``), as the Zoo reads them."""
    with contextlib.redirect_stdout(io.StringIO()):  # the Zoo prints what it loads
        manager = ExperimentManager(argparse.Namespace(), algo, env_id, log_folder="", verbose=0)
        _, saved_hyperparams = manager.read_hyperparameters()
    return dict(saved_hyperparams)


def resolve(
    name: str,
    config: dict[str, Any],
    env_id: str,
    timesteps: int | None = None,
    max_episodes: int | None = None,
) -> dict[str, Any]:
    """
    One (configuration, env) pair as a run spec: algo, Zoo-style hyperparameters and budget.

    :param timesteps: cap on the env steps of every run (shrinks the budget, never extends it)
    :param max_episodes: replaces the episode budget of episode-budgeted configurations
    """
    algo = config["algo"]
    hyperparams: dict[str, Any] = {}
    episodes = config.get("max_episodes")
    if config.get("zoo") or config.get("zoo_budget"):
        zoo = zoo_hyperparams(algo, env_id)
        hyperparams = zoo if config.get("zoo") else {"n_timesteps": zoo["n_timesteps"]}
    if config.get("zoo_config"):
        hyperparams, entry_episodes = _project_zoo_entry(name, config["zoo_config"], env_id)
        episodes = entry_episodes if episodes is None else episodes
    hyperparams.update(copy.deepcopy(config.get("hyperparams", {})))
    if episodes is not None:
        episodes = int(max_episodes or episodes)
        if "n_timesteps" not in hyperparams:
            # Generous upper bound: every episode runs to the env's time limit.
            limit = gym.spec(env_id).max_episode_steps or 10_000
            hyperparams["n_timesteps"] = episodes * limit
    if "n_timesteps" not in hyperparams:
        raise ValueError(f"Configuration {name!r} has no budget: set 'max_episodes', 'zoo' or hyperparams.n_timesteps.")
    n_timesteps = int(float(hyperparams["n_timesteps"]))
    if timesteps is not None:
        n_timesteps = min(n_timesteps, timesteps)
    if n_timesteps < 1 or (episodes is not None and episodes < 1):
        # A run of no step would still write a finished record: a result of nothing.
        raise ValueError(f"Configuration {name!r} must train at least 1 env step and 1 episode, got "
                         f"n_timesteps={n_timesteps}, max_episodes={episodes}.")
    hyperparams["n_timesteps"] = n_timesteps
    if config.get("exploration_steps") is not None:
        hyperparams["exploration_fraction"] = min(1.0, config["exploration_steps"] / n_timesteps)
    return {
        "config": name,
        "env": env_id,
        "algo": algo,
        "hyperparams": hyperparams,
        "n_timesteps": n_timesteps,
        "max_episodes": episodes,
    }


def _project_zoo_entry(name: str, algo: str, env_id: str) -> tuple[dict[str, Any], int | None]:
    """
    The env's entry of the project's ``zoo_configs/ALGO.yml``, as a run's hyperparameters and
    episode budget: its ``StopTrainingOnMaxLearningEpisodes`` callback becomes the comparison's
    own episode budget, and its ``VecHistory`` wrapper the history BlogDQN builds anyway.
    """
    from sb3_blogdqn.zoo import read_zoo_entry

    hyperparams = read_zoo_entry(env_id, algo)
    episodes = None
    for callback in hyperparams.pop("callback", None) or []:
        (class_name, kwargs), = callback.items()
        if class_name != "sb3_blogdqn.StopTrainingOnMaxLearningEpisodes":
            raise ValueError(f"{name}: the comparison runs no callback but the episode budget, got {class_name}.")
        episodes = int(kwargs["max_episodes"])
    for wrapper in hyperparams.pop("vec_env_wrapper", None) or []:
        (class_name, kwargs), = wrapper.items()
        if class_name != "sb3_blogdqn.VecHistory" or kwargs["history_length"] != hyperparams.get("history_length", 4):
            raise ValueError(f"{name}: BlogDQN builds its own history; {class_name} {kwargs} does not match it.")
    return hyperparams, episodes


def describe_presets() -> str:
    lines = []
    for name, config in PRESETS.items():
        flat = _flatten(name, config, PRESETS)
        budget = f"{flat['max_episodes']} episodes" if flat.get("max_episodes") else "the Zoo's n_timesteps"
        if flat.get("zoo"):
            origin = "the RL Zoo's tuned hyperparameters"
        elif flat.get("zoo_config"):
            budget = "the entry's budget"
            origin = f"the env's entry of zoo_configs/{flat['zoo_config']}.yml"
        elif flat["algo"] == "blogdqn":
            origin = "BlogDQN's defaults (the blog)" + (" with" if flat.get("hyperparams") else "")
        else:
            origin = "hyperparameters"
        lines.append(f"{name:19s} {flat['algo']:8s} {budget}; {origin} {flat.get('hyperparams') or ''}".rstrip())
    return "\n".join(lines)


def solved_threshold(env_id: str) -> float | None:
    """The env's own ``reward_threshold`` (CartPole-v1: 475); None where it has none (MinAtar)."""
    from sb3_blogdqn.zoo import register_env_families

    register_env_families()  # a report written from Python, not the CLI, reads MinAtar and Atari specs too
    return gym.spec(env_id).reward_threshold

