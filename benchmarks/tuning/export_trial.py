"""
Print one trial of a BlogDQN study as an entry of ``zoo_configs/blogdqn_tuned.yml``.

    python benchmarks/tuning/export_trial.py --storage benchmarks/tuning/blogdqn_CartPole-v1.log --trial 11 \
        --n-timesteps 50000 --max-episodes 400
    python benchmarks/tuning/export_trial.py --storage benchmarks/tuning/blogdqn_CartPole-v1.log --table

The entry is the sampler's converter applied to the trial's stored parameters, which is what the
Zoo's ``--trial-id`` trains, plus what every BlogDQN entry needs (the ``VecHistory`` wrapper for
the Zoo's evaluation envs) and the budget. ``--table`` prints the study's trials, best first.
"""

import argparse

import optuna
import torch as th
import yaml
from optuna.storages.journal import JournalFileBackend

from sb3_blogdqn.zoo import convert_blogdqn_params


def load_study(path_or_url: str, study_name: str | None) -> optuna.Study:
    storage: str | optuna.storages.BaseStorage = path_or_url
    if path_or_url.endswith(".log"):
        storage = optuna.storages.JournalStorage(JournalFileBackend(path_or_url))
    if study_name is None:
        (study_name,) = optuna.get_all_study_names(storage)
    return optuna.load_study(storage=storage, study_name=study_name)


# Classes the converter puts in policy_kwargs, by the names the Zoo's eval of a policy_kwargs string knows.
ZOO_NAMES: dict[type, str] = {th.optim.Adam: "th.optim.Adam"}


def zoo_dict(kwargs: dict) -> str:
    """The Zoo's YAML form of a dict, nested dicts too: ``dict(a=1, b=dict(c=2))`` (a ``{'c': 2}`` would need quoting)."""
    return "dict({})".format(", ".join(f"{key}={_zoo_value(value)}" for key, value in kwargs.items()))


def _zoo_value(value) -> str:
    if isinstance(value, dict):
        return zoo_dict(value)
    if isinstance(value, type):
        return ZOO_NAMES[value]
    return repr(value)


def entry(trial: optuna.trial.FrozenTrial, n_timesteps: int, max_episodes: int | None) -> dict:
    hyperparams = convert_blogdqn_params(trial.params)
    # The whole dict: a quantile head's n_quantiles, an Adam epsilon's optimizer_kwargs, the init switch.
    hyperparams["policy_kwargs"] = zoo_dict(hyperparams["policy_kwargs"])
    result = {"policy": "MlpPolicy", "n_timesteps": n_timesteps, **hyperparams, "history_length": 4,
              "vec_env_wrapper": [{"sb3_blogdqn.VecHistory": {"history_length": 4}}]}
    if max_episodes is not None:
        result["callback"] = [{"sb3_blogdqn.StopTrainingOnMaxLearningEpisodes": {"max_episodes": max_episodes}}]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study-name")
    parser.add_argument("--trial", type=int, help="the trial's number")
    parser.add_argument("--n-timesteps", type=int)
    parser.add_argument("--max-episodes", type=int)
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    study = load_study(args.storage, args.study_name)
    if args.table:
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        for trial in sorted(done, key=lambda t: t.value or 0.0, reverse=True):  # a COMPLETE trial has its value
            print(f"{trial.number:4d} {trial.value:9.2f} {trial.user_attrs.get('start', '')} {trial.params}")
        return
    trial = study.trials[args.trial]
    print(f"# trial {trial.number} of study {study.study_name}, value {trial.value}")
    print(yaml.safe_dump({"ENV": entry(trial, args.n_timesteps, args.max_episodes)}, sort_keys=False), end="")


if __name__ == "__main__":
    main()
