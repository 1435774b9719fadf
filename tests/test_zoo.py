"""The RL Zoo bridge: train, enjoy, continue, tune and plot BlogDQN with rl_zoo3."""

import argparse
import json
import math
import os
import pickle
import subprocess
import sys
import tomllib
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import torch as th
import yaml
from helpers import load_script
from optuna.storages.journal import JournalFileBackend
from rl_zoo3.exp_manager import ExperimentManager

from sb3_blogdqn import BlogDQN, VecHistory, VecStandardScaler, make_blog_env, zoo
from sb3_blogdqn.common.optim import KerasAdam

REPO = Path(__file__).resolve().parent.parent
TUNING = REPO / "benchmarks" / "tuning"
ENV_ID = "CartPole-v1"
TIMEOUT = 120  # seconds for one Zoo subprocess
# Short runs: a few hundred steps, one torch thread (the test machine is shared).
SHORT = ["--env", ENV_ID, "--num-threads", "1", "--seed", "1"]


def run_launcher(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m sb3_blogdqn.zoo ARGS`` in a fresh process, as a user runs it."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-m", "sb3_blogdqn.zoo", *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 400-step BlogDQN run from zoo_configs/blogdqn.yml, evaluated every 100 steps; its log folder."""
    work = tmp_path_factory.mktemp("zoo")
    run_launcher("train", "--algo", "blogdqn", *SHORT, "-n", "400", "-f", "logs",
                 "--eval-freq", "100", "--eval-episodes", "2", cwd=work)
    return work / "logs"


def test_register_fills_every_zoo_registry(monkeypatch) -> None:
    import rl_zoo3
    import rl_zoo3.enjoy
    import rl_zoo3.exp_manager
    import rl_zoo3.hyperparams_opt
    import rl_zoo3.train
    import rl_zoo3.utils

    # As in the Zoo's SBX example, a script may have rebound a module's ALGOS to another dict.
    monkeypatch.setattr(rl_zoo3.train, "ALGOS", dict(rl_zoo3.ALGOS))
    zoo.register()
    for module in (rl_zoo3, rl_zoo3.utils, rl_zoo3.train, rl_zoo3.exp_manager, rl_zoo3.enjoy):
        assert module.ALGOS["blogdqn"] is BlogDQN
    for module in (rl_zoo3.hyperparams_opt, rl_zoo3.exp_manager):
        assert module.HYPERPARAMS_SAMPLER["blogdqn"] is zoo.sample_blogdqn_params
        assert module.HYPERPARAMS_CONVERTER["blogdqn"] is zoo.convert_blogdqn_params


def test_launcher_defaults_to_the_project_configs() -> None:
    # The installed configs are the checkout's zoo_configs/ (an editable install maps that folder).
    assert (zoo.CONFIG_DIR / "blogdqn.yml").read_text() == (REPO / "zoo_configs" / "blogdqn.yml").read_text()
    config = str(zoo.CONFIG_DIR / "blogdqn.yml")
    assert zoo._with_default_config(["--algo", "blogdqn"]) == ["--algo", "blogdqn", "--conf-file", config]
    # The user's config wins, under either of the Zoo's spellings.
    assert zoo._with_default_config(["--algo", "blogdqn", "-conf", "my.yml"]) == ["--algo", "blogdqn", "-conf", "my.yml"]
    assert zoo._with_default_config(["--algo=blogdqn", "--conf-file=my.yml"]) == ["--algo=blogdqn", "--conf-file=my.yml"]
    # No project config for the Zoo's own algorithms: the Zoo's hyperparams/dqn.yml applies.
    assert zoo._with_default_config(["--algo", "dqn"]) == ["--algo", "dqn"]


def test_every_package_and_the_configs_are_installed() -> None:
    """pyproject lists the packages by name (to map zoo_configs/ into the package): a new subpackage must be added there."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "sb3_blogdqn").rglob("__init__.py")}
    assert set(setuptools["packages"]) == on_disk | {"sb3_blogdqn.zoo_configs"}
    assert setuptools["package-dir"] == {"sb3_blogdqn.zoo_configs": "zoo_configs"}
    assert setuptools["package-data"]["sb3_blogdqn.zoo_configs"] == ["*.yml"]


def test_console_script_points_at_the_launcher() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["sb3-blogdqn-zoo"] == "sb3_blogdqn.zoo:main"


def test_configs_are_marked_and_feed_histories_to_every_env() -> None:
    """Each entry says "blog settings" or "tuned" (with its command) and wraps Zoo-built envs in VecHistory."""
    import gymnasium as gym

    path = REPO / "zoo_configs" / "blogdqn.yml"
    lines = path.read_text().splitlines()
    configs = yaml.safe_load(path.read_text())
    minatar = {f"MinAtar/{game}-v1" for game in ("Breakout", "SpaceInvaders", "Asterix", "Freeway", "Seaquest")}
    assert set(configs) == {"CartPole-v1", "Acrobot-v1", "MountainCar-v0", "LunarLander-v3", "atari", *minatar}
    zoo.register_env_families()
    for env_id, config in configs.items():
        assert env_id in gym.envs.registry or env_id == "atari"
        key_line = next(i for i, line in enumerate(lines) if line.startswith(f"{env_id}:"))
        comment: list[str] = []  # the comment block right above the entry
        while lines[key_line - len(comment) - 1].startswith("#"):
            comment.append(lines[key_line - len(comment) - 1])
        marker = " ".join(comment)
        assert "blog settings" in marker or ("tuned" in marker and "sb3_blogdqn.zoo train" in marker), env_id
        (history,) = config["vec_env_wrapper"]
        assert history["sb3_blogdqn.VecHistory"]["history_length"] == config["history_length"]
        assert "frame_stack" not in config and "normalize" not in config
        assert config["policy"] == ("CnnPolicy" if env_id == "atari" or env_id in minatar else "MlpPolicy")
    blog = configs["CartPole-v1"]
    assert blog["callback"] == [{"sb3_blogdqn.StopTrainingOnMaxLearningEpisodes": {"max_episodes": 400}}]
    assert blog["n_timesteps"] >= 400 * 500  # the episode stop, not n_timesteps, ends the blog's run (B15)


def test_train_then_enjoy_round_trip(trained: Path) -> None:
    run = trained / "blogdqn" / f"{ENV_ID}_1"
    for name in (f"{ENV_ID}.zip", "0.monitor.csv", "evaluations.npz", f"{ENV_ID}/config.yml"):
        assert (run / name).is_file(), name
    model = BlogDQN.load(run / f"{ENV_ID}.zip")
    assert 400 <= model.num_timesteps < 410
    assert model.policy.scaler is not None and model.policy.scaler.fitted  # the warm-up happened (B4, B6)

    result = run_launcher("enjoy", "--algo", "blogdqn", "--env", ENV_ID, "-f", str(trained), "--no-render",
                          "-n", "300", "--num-threads", "1", cwd=trained.parent)
    assert "Mean reward" in result.stdout


def test_continue_training_with_i_keeps_epsilon_and_counters(trained: Path) -> None:
    """The Zoo's -i calls learn() with reset_num_timesteps=True: ε (B8) and the update counters carry on."""
    first_zip = trained / "blogdqn" / f"{ENV_ID}_1" / f"{ENV_ID}.zip"
    zoo.main(["train", "--algo", "blogdqn", *SHORT, "-n", "150", "-f", str(trained), "--eval-freq", "-1",
              "-i", str(first_zip)])
    first = BlogDQN.load(first_zip)
    second = BlogDQN.load(trained / "blogdqn" / f"{ENV_ID}_2" / f"{ENV_ID}.zip")

    assert second._n_exploration_decisions > first._n_exploration_decisions > 0
    # The blog's schedule is a function of the decision count alone: SB3's last ε (here NaN) is not read.
    epsilon = second._schedule.epsilon_at_decision(second._n_exploration_decisions, float("nan"))
    assert second.exploration_rate == pytest.approx(epsilon)
    assert second.exploration_rate < first.exploration_rate
    assert second._n_updates > first._n_updates
    assert second._n_target_updates > first._n_target_updates
    # B4: the scaler was fitted once and stays frozen across the continuation.
    assert first.policy.scaler is not None and second.policy.scaler is not None
    np.testing.assert_array_equal(second.policy.scaler.mean.numpy(), first.policy.scaler.mean.numpy())
    # num_timesteps counts this learn() call only: the Zoo's -n is "this many more steps".
    assert second.num_timesteps < first.num_timesteps


def test_plot_train_and_all_plots_read_blogdqn_logs(trained: Path, tmp_path: Path, monkeypatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.close("all")
    zoo.main(["plot_train", "-a", "blogdqn", "-e", ENV_ID, "-f", str(trained), "-w", "2"])
    lines = plt.gcf().axes[0].lines
    assert len(lines) >= 1 and np.asarray(lines[0].get_xdata()).size > 0
    plt.close("all")

    output = tmp_path / "all_plots"
    zoo.main(["all_plots", "-a", "blogdqn", "-e", ENV_ID, "-f", str(trained), "-l", "blog", "--no-display",
              "-o", str(output)])
    with open(f"{output}.pkl", "rb") as file:
        results = pickle.load(file)
    curve = results[ENV_ID]["BLOGDQN-blog"]
    assert len(curve["timesteps"]) >= 2 and np.all(np.isfinite(curve["mean"]))
    plt.close("all")


def recording(method: Callable, calls: list[VecStandardScaler]) -> Callable:
    """``method`` of VecStandardScaler, also appending the scaler it is called on to ``calls``."""

    def recorded(self: VecStandardScaler, *args: Any) -> Any:
        calls.append(self)
        return method(self, *args)

    return recorded


def statistics(env: VecStandardScaler | VecHistory) -> dict:
    """A VecStandardScaler's fitted statistics, as lists."""
    assert isinstance(env, VecStandardScaler) and env.mean is not None and env.scale is not None
    return {"mean": env.mean.tolist(), "scale": env.scale.tolist()}


def test_a_vec_standard_scaler_is_fitted_once_per_run_and_its_statistics_saved_for_eval_enjoy_and_continuing(
    tmp_path: Path, monkeypatch
) -> None:
    """
    B4 for the Zoo's DQN (zoo_configs/dqn_blog_inputs.yml): the training env fits the statistics and saves
    them beside the model; the EvalCallback's env, enjoy at another --seed and a continued run take them.
    """
    fitted: list[VecStandardScaler] = []  # scalers that fitted statistics on their own play
    given: list[VecStandardScaler] = []  # scalers that took another scaler's or a file's
    monkeypatch.setattr(VecStandardScaler, "fit", recording(VecStandardScaler.fit, fitted))
    monkeypatch.setattr(VecStandardScaler, "set_statistics_from",
                        recording(VecStandardScaler.set_statistics_from, given))

    config = ["--algo", "dqn", "--conf-file", str(REPO / "zoo_configs" / "dqn_blog_inputs.yml"), "-f", str(tmp_path)]
    zoo.main(["train", *config, *SHORT, "-n", "200", "--eval-freq", "100", "--eval-episodes", "2"])
    run = tmp_path / "dqn" / f"{ENV_ID}_1"
    saved = json.loads((run / ENV_ID / zoo.SCALER_FILE).read_text())
    assert (run / "evaluations.npz").is_file()  # the EvalCallback evaluated
    [training], [evaluation] = fitted, given  # the eval env played nothing to fit
    assert statistics(training) == statistics(evaluation) == {key: saved[key] for key in ("mean", "scale")}
    # Fitted on the training run's seed, as make_blog_env(..., scaler=32) fits them (B2, B4, B6).
    assert statistics(make_blog_env(ENV_ID, seed=1, scaler=32)) == statistics(training)

    fitted.clear()
    given.clear()
    zoo.main(["enjoy", "--algo", "dqn", "--env", ENV_ID, "-f", str(tmp_path), "--no-render", "-n", "50",
              "--num-threads", "1", "--seed", "7"])
    [enjoyed] = given
    assert fitted == [] and statistics(enjoyed) == statistics(training)
    assert statistics(make_blog_env(ENV_ID, seed=7, scaler=32)) != statistics(training)  # its seed's own would differ

    fitted.clear()
    given.clear()
    zoo.main(["train", *config, "--env", ENV_ID, "--num-threads", "1", "--seed", "7", "-n", "100", "--eval-freq", "-1",
              "-i", str(run / f"{ENV_ID}.zip")])
    assert fitted == [] and json.loads((tmp_path / "dqn" / f"{ENV_ID}_2" / ENV_ID / zoo.SCALER_FILE).read_text()) == saved

    # A run saved without them (by the Zoo's own rl_zoo3 command): enjoy fits again, and says on what.
    for scaler_file in (tmp_path / "dqn").glob(f"*/{ENV_ID}/{zoo.SCALER_FILE}"):
        scaler_file.unlink()
    fitted.clear()
    with pytest.warns(UserWarning, match=r"vecstandardscaler\.json not found.*--seed"):
        zoo.main(["enjoy", "--algo", "dqn", "--env", ENV_ID, "-f", str(tmp_path), "--no-render", "-n", "10",
                  "--num-threads", "1", "--seed", "7"])
    assert len(fitted) == 1


def test_optuna_trials_evaluate_on_the_runs_vec_standard_scaler_statistics(tmp_path: Path, monkeypatch) -> None:
    """B4 in tuning: a trial's training and evaluation envs take the statistics fitted once for the run."""
    given: list[VecStandardScaler] = []
    monkeypatch.setattr(VecStandardScaler, "set_statistics_from",
                        recording(VecStandardScaler.set_statistics_from, given))
    zoo.main(["train", "--algo", "dqn", "--conf-file", str(REPO / "zoo_configs" / "dqn_blog_inputs.yml"), *SHORT,
              "-optimize", "--n-trials", "1", "-n", "200", "--n-evaluations", "2", "--eval-episodes", "2",
              "--no-optim-plots", "--sampler", "random", "-f", str(tmp_path)])
    saved = json.loads(next((tmp_path / "dqn").glob(f"*/{ENV_ID}/{zoo.SCALER_FILE}")).read_text())
    assert len(given) == 2  # the trial's training env and its evaluation env
    assert all(statistics(scaler) == {key: saved[key] for key in ("mean", "scale")} for scaler in given)


@pytest.mark.parametrize("env_id, extra", [("MinAtar/Breakout-v1", []),
                                            ("PongNoFrameskip-v4", ["-params", "per_sample_updates:False"])])
def test_atari_and_minatar_entries_train_and_enjoy_through_the_launcher(env_id: str, extra: list[str],
                                                                         tmp_path: Path) -> None:
    """The atari: entry (AtariWrapper, CnnPolicy, a history of 4 frames stacked on the channel axis) and MinAtar's."""
    run_launcher("train", "--algo", "blogdqn", "--env", env_id, "-n", "80", "--seed", "0", "--num-threads", "1",
                 "-f", str(tmp_path), "--eval-freq", "-1", *extra, cwd=tmp_path)
    model = BlogDQN.load(next((tmp_path / "blogdqn").glob("*_1/*.zip")))
    assert model.history_length == 4 and type(model.policy).__name__ == "CnnPolicy"
    assert model.observation_space.shape == ((4, 84, 84) if env_id.startswith("Pong") else (10, 10, 16))
    result = run_launcher("enjoy", "--algo", "blogdqn", "--env", env_id, "-f", str(tmp_path), "--no-render",
                          "-n", "100", "--num-threads", "1", cwd=tmp_path)
    assert "Loading" in result.stdout


@pytest.mark.filterwarnings("ignore:per_sample_updates=True")  # the blog entry's B11 on frames, warned of by design
@pytest.mark.parametrize("algo", ["blogdqn", "blogdqn_tuned"])
def test_load_preset_builds_minatar_entries_with_the_papers_network(algo: str) -> None:
    """load_preset evaluates an entry's policy_kwargs with sb3_blogdqn in scope, as the launcher does."""
    from sb3_blogdqn import MinAtarCNN

    model = zoo.load_preset("MinAtar/Breakout-v1", algo).make_model(seed=0)
    assert type(model.policy).__name__ == "CnnPolicy"
    assert isinstance(model.policy.q_net.features_extractor, MinAtarCNN)


@pytest.mark.parametrize(("override", "wrapper"), [("frame_stack:4", "VecFrameStack"), ("normalize:True", "VecNormalize")])
def test_frame_stack_or_normalize_config_is_refused(override: str, wrapper: str, tmp_path: Path) -> None:
    """B1/B4: BlogDQN keeps its own history (of vectors) and scaler; the error says so and names the config key."""
    with pytest.raises(ValueError, match=wrapper) as error:
        zoo.main(["train", "--algo", "blogdqn", *SHORT, "-n", "100", "-f", str(tmp_path), "--eval-freq", "-1",
                  "-params", override])
    message = str(error.value)
    assert "BlogDQN" in message and f"drop '{override.split(':')[0]}'" in message


def test_zoo_own_dqn_runs_through_the_launcher(tmp_path: Path) -> None:
    zoo.main(["train", "--algo", "dqn", *SHORT, "-n", "200", "-f", str(tmp_path), "--eval-freq", "-1"])
    run = tmp_path / "dqn" / f"{ENV_ID}_1"
    assert (run / f"{ENV_ID}.zip").is_file()
    config = yaml.load((run / ENV_ID / "config.yml").read_text(), Loader=yaml.UnsafeLoader)
    assert "vec_env_wrapper" not in config  # the Zoo's hyperparams/dqn.yml, not ours


def test_sampler_samples_the_b_rule_switches_and_converter_matches() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen_eps, seen_init, seen_optimizers, seen_clipping = set(), set(), set(), set()
    for _ in range(16):
        trial = study.ask()
        sampled = zoo.sample_blogdqn_params(trial, n_actions=0, n_envs=1, additional_args={})
        # --trial-id rebuilds the kwargs from the stored params alone, in the Zoo's YAML form:
        # a decaying rate as a "lin_" string, which the Zoo's preprocessing turns into a schedule.
        converted = zoo.convert_blogdqn_params(trial.params)
        learning_rate = trial.params["learning_rate"]
        if trial.params["learning_rate_schedule"] == "linear":
            assert converted.pop("learning_rate") == f"lin_{learning_rate}"
            schedule = sampled.pop("learning_rate")
            assert schedule(1.0) == pytest.approx(learning_rate) and schedule(0.0) == 0.0
        else:
            assert sampled["learning_rate"] == learning_rate
        assert converted == sampled
        for switch in ("target_update_on_episode_step", "loss_on_all_actions", "per_sample_updates",
                       "handle_timeout_termination", "act_with_target", "double_q", "scaler_from_bounds",
                       "standardize_inputs"):
            assert isinstance(sampled[switch], bool)
        # B4: the bounds set a scaler only where there is one to set.
        assert sampled["scaler_from_bounds"] == (trial.params["scaler_from_bounds"] and trial.params["standardize_inputs"])
        if trial.params["n_quantiles"]:  # QR-DQN's loss replaces the sampled one, on the taken action (B10 off)
            assert sampled["loss"] == "quantile" and sampled["loss_on_all_actions"] is False
            assert sampled["policy_kwargs"]["n_quantiles"] == trial.params["n_quantiles"]
        else:
            assert sampled["loss"] == trial.params["loss"] and "n_quantiles" not in sampled["policy_kwargs"]
        # B12's Adam epsilon, or QR-DQN's 0.01 / batch_size, in KerasAdam or torch's Adam.
        eps = 0.01 / sampled["batch_size"] if trial.params["adam_eps"] == "qr_dqn" else 1e-7
        optimizer_class = {"keras_adam": KerasAdam, "adam": th.optim.Adam}[trial.params["optimizer"]]
        assert sampled["policy_kwargs"].get("optimizer_class", KerasAdam) is optimizer_class
        assert sampled["max_grad_norm"] == 10.0 if trial.params["gradient_clipping"] == "norm_10" else (
            "max_grad_norm" not in sampled)  # B10: unclipped, the default
        assert sampled["n_steps"] in (1, 3, 5)  # B10's one-step targets or SB3's n-step returns
        assert ("exploration_decisions" in sampled) == (sampled["exploration_fraction"] is None)  # B8
        assert sampled["batch_size"] <= sampled["learning_starts"] <= sampled["buffer_size"]  # B6, B7
        assert (sampled["tau"] == 1.0) == (trial.params["target_update"] == "copy") and 0 < sampled["tau"] <= 1  # B13
        blog_schedule = (sampled["train_freq"], sampled["gradient_steps"]) == (1, -1)  # B11
        assert blog_schedule == (trial.params["replay_schedule"] == "per_transition")
        model = BlogDQN("MlpPolicy", "CartPole-v1", use_kernel=True, **sampled)  # accepted, and served by the kernel
        assert model.policy.optimizer.param_groups[0]["eps"] == eps
        assert type(model.policy.optimizer) is optimizer_class
        assert model.max_grad_norm == (10.0 if trial.params["gradient_clipping"] == "norm_10" else math.inf)
        seen_eps.add(trial.params["adam_eps"])
        seen_optimizers.add(trial.params["optimizer"])
        seen_clipping.add(trial.params["gradient_clipping"])
        assert model.policy.glorot_init is trial.params["glorot_init"]  # B12's init, or torch's
        seen_init.add(trial.params["glorot_init"])
        # B2's skipped first steps: the blog's default unless switched off.
        assert model.skip_short_histories is trial.params["skip_short_histories"]
        assert ("skip_short_histories" in sampled) is not trial.params["skip_short_histories"]
        study.tell(trial, 0.0)
    assert seen_eps == {"keras", "qr_dqn"} and seen_init == {True, False}
    assert seen_optimizers == {"keras_adam", "adam"} and seen_clipping == {"none", "norm_10"}


def _tuning_script(name: str):
    return load_script(TUNING / f"{name}.py")


@pytest.mark.parametrize("start", ["blog", "blog-stable", "zoo-dqn"])
def test_seed_study_starts_fix_every_parameter_the_sampler_draws(start) -> None:
    """A queued trial draws at random whatever its start leaves out (a quantile head, say): none may be left out."""
    seed_study = _tuning_script("seed_study")
    params = {"blog": seed_study.BLOG, "blog-stable": seed_study.BLOG_STABLE,
              "zoo-dqn": seed_study.zoo_dqn_start("LunarLander-v3")}[start]
    for seed in range(4):  # other draws for anything left out
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        study.enqueue_trial(params)
        trial = study.ask()
        zoo.sample_blogdqn_params(trial, n_actions=0, n_envs=1, additional_args={})
        assert trial.params == {key: value for key, value in params.items() if key in trial.params}
        assert set(trial.params) <= set(params)


def test_exported_entry_is_what_the_zoo_reads_back() -> None:
    """export_trial writes policy_kwargs as a string the Zoo evaluates back to the converter's dict, classes too."""
    export_trial = _tuning_script("export_trial")
    params = {**_tuning_script("seed_study").BLOG, "optimizer": "adam", "adam_eps": "qr_dqn", "n_quantiles": 25,
              "gradient_clipping": "norm_10"}
    trial = optuna.trial.FixedTrial(params)
    zoo.sample_blogdqn_params(trial, n_actions=0, n_envs=1, additional_args={})
    frozen = optuna.trial.create_trial(params=trial.params, distributions={
        key: optuna.distributions.CategoricalDistribution([value]) for key, value in trial.params.items()}, value=0.0)
    entry = export_trial.entry(frozen, n_timesteps=1000, max_episodes=None)
    assert isinstance(entry["policy_kwargs"], str) and "optimizer_class=th.optim.Adam" in entry["policy_kwargs"]
    manager = ExperimentManager(argparse.Namespace(), "blogdqn", ENV_ID, log_folder="", verbose=0)
    kwargs, *_ = manager._preprocess_hyperparams({**entry, "vec_env_wrapper": None})
    assert kwargs["policy_kwargs"] == zoo.convert_blogdqn_params(frozen.params)["policy_kwargs"]
    assert kwargs["max_grad_norm"] == 10.0


def _journal_study(path: Path, name: str) -> "optuna.Study":
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    return optuna.load_study(study_name=name, storage=storage)


# Trials of 200 steps, evaluated twice (every 100 learning steps) on 2 episodes.
OPTIMIZE = ["--algo", "blogdqn", *SHORT, "-optimize", "-n", "200", "--n-evaluations", "2", "--eval-episodes", "2",
            "--no-optim-plots"]


def test_optimize_two_trials_then_train_from_a_trial(tmp_path: Path) -> None:
    journal = tmp_path / "study.log"
    zoo.main(["train", *OPTIMIZE, "--n-trials", "2", "-f", str(tmp_path), "--storage", str(journal),
              "--study-name", "blogdqn-test"])
    trials = _journal_study(journal, "blogdqn-test").trials
    assert [trial.state for trial in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert all(trial.value is not None and np.isfinite(trial.value) for trial in trials)
    assert "loss_on_all_actions" in trials[0].params
    assert list((tmp_path / "blogdqn").glob(f"report_{ENV_ID}_2-trials-200-*.csv"))

    # --trial-id trains with a stored trial's hyperparameters (the Zoo reads them through the converter).
    logs = tmp_path / "from_trial"
    zoo.main(["train", "--algo", "blogdqn", *SHORT, "-n", "100", "-f", str(logs), "--eval-freq", "-1",
              "--storage", str(journal), "--study-name", "blogdqn-test", "--trial-id", "1"])
    model = BlogDQN.load(logs / "blogdqn" / f"{ENV_ID}_1" / f"{ENV_ID}.zip")
    expected = zoo.convert_blogdqn_params(trials[1].params)  # e.g. a quantile head sets loss_on_all_actions off
    assert model.loss_on_all_actions == expected["loss_on_all_actions"] and model.loss == expected["loss"]
    assert model.policy.glorot_init == expected["policy_kwargs"].get("glorot_init", True)
    assert model.gamma == pytest.approx(1 - trials[1].params["one_minus_gamma"])


def test_two_workers_share_one_journal_study(tmp_path: Path) -> None:
    """Two processes tune one study at the same time through a JournalFileStorage (the Zoo's advice)."""
    journal = tmp_path / "shared" / "study.log"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    # Seeds whose random draws are cheap trials (one Adam step per replay, a small net): the
    # test is about the storage, not the hyperparameters.
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "sb3_blogdqn.zoo", "train", *OPTIMIZE, "--n-trials", "1", "-f", f"logs_{seed}",
             "--storage", str(journal), "--study-name", "shared", "--seed", str(seed), "--sampler", "random"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for seed in (15, 17)
    ]
    for worker in workers:
        output, _ = worker.communicate(timeout=TIMEOUT)
        assert worker.returncode == 0, output[-3000:]
    trials = _journal_study(journal, "shared").trials
    assert sorted(trial.number for trial in trials) == [0, 1]
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in trials)


# ---------------------------------------------------------------- the presets: blog settings and tuned


def test_the_blogs_cartpole_entry_is_reachable_by_name_and_is_the_blog():
    preset = zoo.load_preset(ENV_ID, "blogdqn")
    model = preset.make_model(seed=0)
    blog = BlogDQN("MlpPolicy", ENV_ID)
    assert [model.lr_schedule(p) for p in (1.0, 0.5, 0.0)] == [blog.lr_schedule(p) for p in (1.0, 0.5, 0.0)]
    for name in ("buffer_size", "learning_starts", "batch_size", "gamma", "target_update_interval",
                 "exploration_final_eps", "exploration_decisions", "loss_on_all_actions", "per_sample_updates",
                 "target_update_on_episode_step", "handle_timeout_termination", "double_q", "loss", "tau"):
        assert getattr(model, name) == getattr(blog, name), name
    assert preset.n_timesteps == 201_000


def tuned_envs() -> list[str]:
    return list(yaml.safe_load((zoo.CONFIG_DIR / f"{zoo.TUNED_ALGO_NAME}.yml").read_text()))


@pytest.mark.parametrize("env_id", tuned_envs())
def test_every_tuned_entry_builds_its_models_arguments(env_id):
    preset = zoo.load_preset(env_id)
    entry = preset.hyperparams
    model = preset.make_model(seed=0)
    for name in ("buffer_size", "batch_size", "gamma", "target_update_interval", "double_q", "loss", "tau",
                 "loss_on_all_actions", "per_sample_updates", "handle_timeout_termination", "history_length",
                 "act_with_target"):
        assert getattr(model, name) == entry[name], name
    # The Zoo's "lin_" strings become SB3 schedules, decaying to 0 over the budget.
    if str(entry["learning_rate"]).startswith("lin_"):
        assert model.lr_schedule(1.0) == pytest.approx(float(entry["learning_rate"][4:]))
        assert model.lr_schedule(0.0) == 0.0
    assert preset.n_timesteps == entry["n_timesteps"]
    # The fused kernel serves MLPs; image entries (MinAtar's) run on the torch path.
    assert model.uses_kernel == (entry["policy"] == "MlpPolicy")


def test_a_tuned_preset_trains_in_one_line_with_its_episode_budget():
    entry = zoo.read_zoo_entry(ENV_ID)
    with pytest.warns(UserWarning, match="still in the warm-up") if entry["learning_starts"] > 300 else nullcontext():
        model = zoo.load_preset(ENV_ID).train(seed=0, n_timesteps=300)
    assert model.num_timesteps == 300
    assert (model.double_q, model.learning_starts) == (entry["double_q"], entry["learning_starts"])


def test_a_missing_preset_names_the_file_and_the_env():
    with pytest.raises(ValueError, match=r"blogdqn_tuned\.yml has no entry for Pendulum-v1"):
        zoo.load_preset("Pendulum-v1")
    with pytest.raises(ValueError, match=r"No project Zoo config nope.yml: the presets are \['blogdqn', "):
        zoo.load_preset(ENV_ID, "nope")


def test_the_zoo_trains_the_tuned_preset_with_one_flag(tmp_path: Path) -> None:
    zoo.main(["train", "--algo", zoo.TUNED_ALGO_NAME, *SHORT, "-n", "200", "-f", str(tmp_path), "--eval-freq", "-1"])
    run = tmp_path / zoo.TUNED_ALGO_NAME / f"{ENV_ID}_1"
    model = BlogDQN.load(run / f"{ENV_ID}.zip")
    config = yaml.load((run / ENV_ID / "config.yml").read_text(), Loader=yaml.UnsafeLoader)
    assert dict(config)["double_q"] == zoo.read_zoo_entry(ENV_ID)["double_q"] == model.double_q
