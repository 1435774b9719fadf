"""
Create a BlogDQN tuning study and queue its first trials, before the Zoo's `-optimize` workers start.

    python benchmarks/tuning/seed_study.py --env Acrobot-v1 --storage benchmarks/tuning/blogdqn_Acrobot-v1.log

Creating the study once avoids the workers' race to create it (README, "Tuning"). The queued
trials are starting points written in the sampler's own parameters (``sb3_blogdqn.zoo``), so the
workers run them first and TPE starts from them:

- ``blog``: BlogDQN's defaults, the blog's settings (B1-B16);
- ``zoo-dqn``: the RL Zoo's tuned DQN hyperparameters for the env, where the sampler's ranges
  hold them, with every B-rule switch at standard DQN: stock DQN's updates on the blog's inputs;
  B12's Glorot init and KerasAdam and B10's unclipped gradients stay the blog's, as in the trials
  queued before those switches existed (``--set glorot_init=false optimizer=adam
  gradient_clipping=norm_10`` gives SB3's DQN's);
- ``blog-stable``: the blog's settings with DQN practice's stabilizers for a *final* model: the
  learning rate decaying linearly to 0 over the budget, bootstrapping through time-limit cuts
  (B14's switch), Double DQN targets and a 50,000-transition memory;
- ``zoo-dqn-stable``: ``zoo-dqn`` with the learning rate decaying linearly to 0 and Double DQN targets.

Each start names every parameter the sampler draws (a parameter a queued trial leaves out is drawn at
random), and each queued trial keeps a ``start`` user attribute naming it, so the study shows where a
result came from.
``--set KEY=VALUE`` changes a start's parameter (numbers, else YAML: true, linear...), for a candidate found
by comparing variants over several seeds; the start is then named, e.g., ``blog-stable+learning_rate=5e-4``.
"""

import argparse
import math

import optuna
import yaml
from optuna.storages.journal import JournalFileBackend

from sb3_blogdqn.compare.presets import zoo_hyperparams

BLOG = {
    "learning_rate": 1e-3,
    "one_minus_gamma": 0.01,
    "batch_size_pow": 5,
    "buffer_size": 2000,
    "learning_starts": 32,
    "target_update_interval": 100,
    "exploration_final_eps": 1e-4,
    "net_arch": "blog",
    "exploration_schedule": "per_decision",
    "exploration_decisions": 1000,
    "target_update_on_episode_step": True,
    "loss_on_all_actions": True,
    "per_sample_updates": True,
    "handle_timeout_termination": False,
    "act_with_target": False,
    "double_q": False,
    "loss": "mse",
    "learning_rate_schedule": "constant",
    "target_update": "copy",
    "replay_schedule": "per_transition",
    "scaler_from_bounds": False,
    "standardize_inputs": True,
    "n_quantiles": 0,
    "adam_eps": "keras",
    "glorot_init": True,
    "optimizer": "keras_adam",
    "gradient_clipping": "none",
    "skip_short_histories": True,
    "n_steps": 1,
}


BLOG_STABLE = {
    **BLOG,
    "learning_rate_schedule": "linear",
    "handle_timeout_termination": True,
    "double_q": True,
    "buffer_size": 50_000,
}


def zoo_dqn_start(env_id: str) -> dict:
    """The Zoo's DQN hyperparameters for ``env_id`` in the sampler's parameters (clipped to its ranges)."""
    zoo = zoo_hyperparams("dqn", env_id)
    learning_rate = zoo["learning_rate"]
    schedule = "constant"
    if isinstance(learning_rate, str):  # "lin_1e-3"
        schedule, learning_rate = "linear", float(learning_rate.removeprefix("lin_"))
    net_arch = yaml.safe_load(zoo.get("policy_kwargs", "dict(net_arch=[64, 64])").replace("dict(net_arch=", "")[:-1])
    gradient_steps = zoo["gradient_steps"] if zoo["gradient_steps"] > 0 else zoo["train_freq"]
    return {
        "learning_rate": learning_rate,
        "one_minus_gamma": max(1e-4, 1 - zoo["gamma"]),
        "batch_size_pow": min(7, max(4, round(math.log2(zoo["batch_size"])))),
        "buffer_size": min((1000, 2000, 10_000, 50_000, 100_000), key=lambda size: abs(size - zoo["buffer_size"])),
        "learning_starts": min((32, 1000, 5000), key=lambda size: abs(size - zoo["learning_starts"])),
        "target_update_interval": min(2000, max(10, zoo["target_update_interval"])),
        "exploration_final_eps": min(0.1, zoo["exploration_final_eps"]),
        "net_arch": {(256, 256): "medium", (64, 64): "small"}.get(tuple(net_arch), "medium"),
        "exploration_schedule": "fraction",
        "exploration_fraction": min(0.5, zoo["exploration_fraction"]),
        "target_update_on_episode_step": False,
        "loss_on_all_actions": False,
        "per_sample_updates": False,
        "handle_timeout_termination": True,
        "act_with_target": False,
        "double_q": False,
        "loss": "huber",
        "learning_rate_schedule": schedule,
        "target_update": "copy",
        "replay_schedule": "sb3",
        "scaler_from_bounds": False,
        "standardize_inputs": True,
        "n_quantiles": 0,
        "adam_eps": "keras",
        "glorot_init": True,
        "optimizer": "keras_adam",
        "gradient_clipping": "none",
        "skip_short_histories": True,
        "n_steps": 1,
        "train_freq": min(16, zoo["train_freq"]),
        "gradient_steps": min(8, gradient_steps),
    }


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return yaml.safe_load(text)  # YAML 1.1 reads 5e-4 as a string, hence the numbers first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--storage", required=True, help="a journal file (.log) or an RDB URL, as the Zoo's --storage")
    parser.add_argument("--study-name", help="default: blogdqn-ENV")
    parser.add_argument("--starts", nargs="+", default=["blog", "zoo-dqn"],
                        choices=["blog", "zoo-dqn", "blog-stable", "zoo-dqn-stable"])
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="change the starts' parameters")
    args = parser.parse_args()
    changes = dict(item.split("=", 1) for item in args.set)
    storage = args.storage
    if storage.endswith(".log"):
        storage = optuna.storages.JournalStorage(JournalFileBackend(storage))
    name = args.study_name or f"blogdqn-{args.env}"
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True)
    zoo_dqn = zoo_dqn_start(args.env)
    starts = {"blog": BLOG, "blog-stable": BLOG_STABLE, "zoo-dqn": zoo_dqn,
              "zoo-dqn-stable": {**zoo_dqn, "learning_rate_schedule": "linear", "double_q": True}}
    for start in args.starts:
        params = {**starts[start], **{key: _value(text) for key, text in changes.items()}}
        label = "+".join([start, *args.set])
        study.enqueue_trial(params, user_attrs={"start": label}, skip_if_exists=True)
        print(f"{name}: queued {label}: {params}")


if __name__ == "__main__":
    main()
