"""
The RL Zoo bridge: train, enjoy, tune and plot BlogDQN with ``rl_zoo3``.

:func:`register` adds BlogDQN to every registry the Zoo reads, the way the Zoo's docs
add SBX's algorithms: ``ALGOS`` (seen by ``rl_zoo3``, ``rl_zoo3.train``,
``rl_zoo3.exp_manager``, ``rl_zoo3.enjoy`` and the other scripts) and the tuning
registries ``HYPERPARAMS_SAMPLER`` / ``HYPERPARAMS_CONVERTER``. :func:`main` is the
launcher, ``python -m sb3_blogdqn.zoo SCRIPT [zoo flags]`` (console script
``sb3-blogdqn-zoo``): it registers, then runs the Zoo's own script of that name (those of
the ``rl_zoo3`` command), giving ``train`` the project's ``zoo_configs/ALGO.yml`` (installed
with the package) unless ``--conf-file`` is passed.
The Zoo's own algorithms (``--algo dqn``) run through it unchanged.

Every blogdqn config entry carries ``vec_env_wrapper: sb3_blogdqn.VecHistory``: BlogDQN
wraps its training env itself, but the Zoo also builds evaluation envs (``EvalCallback``,
Optuna trials) and ``enjoy`` envs, and those must feed the model histories (B1, B3) too.

A config whose ``vec_env_wrapper`` holds a ``sb3_blogdqn.VecStandardScaler`` (any algorithm,
``zoo_configs/dqn_blog_inputs.yml``) gets one set of statistics per run, as ``normalize`` gets
``vecnormalize.pkl``: the training env fits them, they are saved beside the run's ``config.yml``
(:data:`SCALER_FILE`), and the evaluation envs and ``enjoy`` take them without fitting.
"""

import argparse
import contextlib
import importlib
import importlib.resources
import inspect
import io
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import optuna
    import rl_zoo3  # noqa: F401 (imported here to name the missing extra)
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError("The RL Zoo bridge needs the 'zoo' extra: pip install 'sb3-blogdqn[zoo]'") from error

import torch as th
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.utils import create_test_env as zoo_create_test_env
from rl_zoo3.utils import get_wrapper_class, linear_schedule
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.common.vec_env import VecEnv

import sb3_blogdqn
from sb3_blogdqn.blogdqn import BlogDQN
from sb3_blogdqn.common.checks import find_vec_wrapper
from sb3_blogdqn.common.optim import KERAS_EPSILON
from sb3_blogdqn.common.wrappers import VecStandardScaler

ALGO_NAME = "blogdqn"
"""``--algo blogdqn``: ``zoo_configs/blogdqn.yml``, the blog's settings (faithful on CartPole-v1)."""
TUNED_ALGO_NAME = "blogdqn_tuned"
"""``--algo blogdqn_tuned``: the same BlogDQN with ``zoo_configs/blogdqn_tuned.yml``, tuned per env."""
# A real folder whatever the install (a wheel unpacks it, an editable install maps it to the
# checkout's zoo_configs/): the Zoo opens --conf-file by path.
CONFIG_DIR = Path(str(importlib.resources.files("sb3_blogdqn.zoo_configs")))
"""The project's Zoo configs, ``ALGO.yml`` each: the package's ``sb3_blogdqn.zoo_configs``."""

# The Zoo modules that look algorithms or samplers up; the others import the same dicts.
_ZOO_READERS = ("rl_zoo3", "rl_zoo3.train", "rl_zoo3.exp_manager", "rl_zoo3.enjoy", "rl_zoo3.hyperparams_opt")

# The scripts of the Zoo's own ``rl_zoo3`` command (rl_zoo3.cli), imported only when run:
# the plotting ones pull in seaborn, scipy and rliable.
SCRIPTS = {
    "train": "rl_zoo3.train",
    "enjoy": "rl_zoo3.enjoy",
    "plot_train": "rl_zoo3.plots.plot_train",
    "plot_from_file": "rl_zoo3.plots.plot_from_file",
    "all_plots": "rl_zoo3.plots.all_plots",
}

SCALER_FILE = "vecstandardscaler.json"
"""A Zoo run's VecStandardScaler statistics, in ``<run>/<env>/`` beside ``config.yml`` (where ``vecnormalize.pkl`` goes)."""

NET_ARCHS = {"blog": [20, 20, 10], "small": [64, 64], "medium": [256, 256]}
"""Sampled ``net_arch`` choices; ``blog`` is the blog's Dense 20-20-10 (B12)."""


def convert_blogdqn_params(params: dict[str, Any]) -> dict[str, Any]:
    """
    Turn an Optuna trial's raw parameters into BlogDQN keyword arguments.

    The Zoo calls this on a stored trial's ``params`` (``--trial-id``), so it must not
    need anything but them. A stored study may hold trials that lack a parameter the sampler
    now suggests (it grew one switch at a time); each missing parameter takes the value those
    trials ran with, which is the blog's (the ``.get(name, default)`` below). The warm-up (B6),
    on which the scaler is fitted (B4), is at least one minibatch (B7), as in the blog (32 and 32);
    without ``learning_starts`` it is exactly one.
    """
    hyperparams = dict(params)
    hyperparams["gamma"] = 1 - hyperparams.pop("one_minus_gamma")
    hyperparams["batch_size"] = 2 ** hyperparams.pop("batch_size_pow")
    # Within the memory: the warm-up's transitions must all fit in it (B5).
    warmup = min(hyperparams.get("learning_starts", 0), hyperparams["buffer_size"])
    hyperparams["learning_starts"] = max(hyperparams["batch_size"], warmup)
    # B8: the blog's per-decision ε decay, or SB3's linear schedule over a fraction of learn().
    if hyperparams.pop("exploration_schedule") == "per_decision":
        hyperparams["exploration_fraction"] = None
    # B13: the blog's copy (tau 1), or SB3's Polyak averaging at the same moments.
    if hyperparams.pop("target_update") == "copy":
        hyperparams["tau"] = 1.0
    # B11: one replay per stored transition inside its step, or SB3's train_freq/gradient_steps.
    if hyperparams.pop("replay_schedule") == "per_transition":
        hyperparams["train_freq"], hyperparams["gradient_steps"] = 1, -1
    hyperparams["policy_kwargs"] = dict(net_arch=NET_ARCHS[hyperparams.pop("net_arch")])
    # QR-DQN's quantile loss in place of the sampled one (0, or missing: none):
    # its head of n_quantiles per action fits the taken action only (B10's all-action targets off).
    n_quantiles = hyperparams.pop("n_quantiles", 0)
    if n_quantiles:
        hyperparams.update(loss="quantile", loss_on_all_actions=False)
        hyperparams["policy_kwargs"]["n_quantiles"] = n_quantiles
    # B12's Adam epsilon: Keras' 1e-7, or the QR-DQN paper's 0.01 / batch size, which sb3-contrib's QR-DQN
    # gives its Adam.
    if hyperparams.pop("adam_eps", "keras") == "qr_dqn":
        hyperparams["policy_kwargs"]["optimizer_kwargs"] = dict(eps=0.01 / hyperparams["batch_size"])
    # B12's KerasAdam, or torch's Adam with the epsilon above (Keras' written out: torch's default is 1e-8);
    # written out only when not Keras', as the switches below.
    if hyperparams.pop("optimizer", "keras_adam") == "adam":
        hyperparams["policy_kwargs"].setdefault("optimizer_kwargs", dict(eps=KERAS_EPSILON))
        hyperparams["policy_kwargs"]["optimizer_class"] = th.optim.Adam
    # B10's unclipped gradients, or SB3's DQN's clipping.
    if hyperparams.pop("gradient_clipping", "none") == "norm_10":
        hyperparams["max_grad_norm"] = 10.0
    # B12's Glorot-uniform weights and zero biases, or torch's nn.Linear init as SB3's DQN has.
    if not hyperparams.pop("glorot_init", True):
        hyperparams["policy_kwargs"]["glorot_init"] = False
    # B2's skipped first steps, written out only when off, as the two above.
    if not hyperparams.pop("skip_short_histories", True):
        hyperparams["skip_short_histories"] = False
    # B4: unscaled inputs have no statistics to take from the bounds.
    if not hyperparams.setdefault("standardize_inputs", True):
        hyperparams["scaler_from_bounds"] = False
    # B12's constant rate, or the Zoo's linear decay to 0 over learn() (its "lin_" strings).
    if hyperparams.pop("learning_rate_schedule", "constant") == "linear":
        hyperparams["learning_rate"] = f"lin_{hyperparams['learning_rate']}"
    return hyperparams


def sample_blogdqn_params(trial: optuna.trial.BaseTrial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """
    Optuna sampler for BlogDQN: the usual DQN hyperparameters, the B-rule switches, and SB3
    DQN's Polyak ``tau`` and ``train_freq``/``gradient_steps`` (each against the blog's choice).

    The blog's values are inside every range. The signature is the Zoo's sampler
    interface; ``n_actions``, ``n_envs`` and ``additional_args`` (HER) do not apply. The
    parameters are suggested in a fixed order (the helpers' calls in turn), which a seeded
    sampler's draws depend on.
    """
    params = {**_sample_sizes_and_rates(trial), **_sample_switches(trial)}
    _sample_schedules(trial, params)
    hyperparams = convert_blogdqn_params(params)
    trial.set_user_attr("gamma", hyperparams["gamma"])
    trial.set_user_attr("batch_size", hyperparams["batch_size"])
    if isinstance(hyperparams["learning_rate"], str):  # the trial's model takes the schedule itself
        hyperparams["learning_rate"] = linear_schedule(hyperparams["learning_rate"].removeprefix("lin_"))
    return hyperparams


def _sample_sizes_and_rates(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-2, log=True),
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 1e-4, 0.05, log=True),
        # 16..128 transitions per replay: with per_sample_updates each one is an Adam step.
        "batch_size_pow": trial.suggest_int("batch_size_pow", 4, 7),
        "buffer_size": trial.suggest_categorical("buffer_size", [1000, 2000, 10_000, 50_000, 100_000]),  # B5
        # B6: random play before learning, and the scaler's sample (B4): the blog's one minibatch
        # (32) sees only states near the start, which is too few where the agent goes far from it.
        "learning_starts": trial.suggest_categorical("learning_starts", [32, 1000, 5000]),
        # Env steps between target updates; 1 with Polyak averaging is SB3's soft update after every step.
        "target_update_interval": trial.suggest_int("target_update_interval", 1, 2000, log=True),
        "exploration_final_eps": trial.suggest_float("exploration_final_eps", 1e-4, 0.1, log=True),
        "net_arch": trial.suggest_categorical("net_arch", list(NET_ARCHS)),
        "exploration_schedule": trial.suggest_categorical("exploration_schedule", ["per_decision", "fraction"]),
    }


def _sample_switches(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return {
        # The B-rule switches: True is the blog, False standard DQN.
        "target_update_on_episode_step": trial.suggest_categorical("target_update_on_episode_step", [True, False]),  # B13
        "loss_on_all_actions": trial.suggest_categorical("loss_on_all_actions", [True, False]),  # B10
        "per_sample_updates": trial.suggest_categorical("per_sample_updates", [True, False]),  # B11
        # B14: False is the blog (a time-limit cut is terminal), True SB3's bootstrap.
        "handle_timeout_termination": trial.suggest_categorical("handle_timeout_termination", [False, True]),
        # B16: the trial's evaluation plays with the network that would be deployed.
        "act_with_target": trial.suggest_categorical("act_with_target", [False, True]),
        # Beyond the blog: Double DQN targets, SB3's Huber or QR-DQN's quantile loss, a learning rate decaying to 0.
        "double_q": trial.suggest_categorical("double_q", [False, True]),
        "loss": trial.suggest_categorical("loss", ["mse", "huber"]),
        # 0: the loss above; else QR-DQN's quantile loss with that many quantiles, which replaces it. A
        # parameter of its own, so that a study whose trials chose among mse and huber only still resumes.
        "n_quantiles": trial.suggest_categorical("n_quantiles", [0, 25, 200]),
        # B12's Adam epsilon (1e-7), or QR-DQN's 0.01 / batch_size, which damps the steps of rarely active weights.
        "adam_eps": trial.suggest_categorical("adam_eps", ["keras", "qr_dqn"]),
        # B12's Glorot init (Keras' Dense), or torch's nn.Linear init (SB3's DQN).
        "glorot_init": trial.suggest_categorical("glorot_init", [True, False]),
        # B12's KerasAdam (epsilon added before the bias correction), or torch's Adam (after it), SB3's DQN's.
        "optimizer": trial.suggest_categorical("optimizer", ["keras_adam", "adam"]),
        # B10's unclipped gradients, or SB3's DQN's: clipped to a norm of 10.
        "gradient_clipping": trial.suggest_categorical("gradient_clipping", ["none", "norm_10"]),
        # B2: the first steps of an episode random and unstored, or acted on and stored with padded histories.
        "skip_short_histories": trial.suggest_categorical("skip_short_histories", [True, False]),
        "learning_rate_schedule": trial.suggest_categorical("learning_rate_schedule", ["constant", "linear"]),
        # B4 switch: bounded features scaled by the observation space's bounds, not by random play.
        "scaler_from_bounds": trial.suggest_categorical("scaler_from_bounds", [False, True]),
        # B4 switch: False leaves the inputs unscaled, which then overrides scaler_from_bounds.
        "standardize_inputs": trial.suggest_categorical("standardize_inputs", [True, False]),
        # B10's one-step targets, or SB3's n-step returns (the tuning's envs are single: one env, as they need).
        "n_steps": trial.suggest_categorical("n_steps", [1, 3, 5]),
    }


def _sample_schedules(trial: optuna.trial.BaseTrial, params: dict[str, Any]) -> None:
    """B8's, B13's and B11's schedule against SB3's, each with its own parameters, into ``params``."""
    if params["exploration_schedule"] == "per_decision":
        params["exploration_decisions"] = trial.suggest_int("exploration_decisions", 100, 100_000, log=True)  # B8
    else:
        params["exploration_fraction"] = trial.suggest_float("exploration_fraction", 0.01, 0.5)
    # SB3 DQN's own knobs.
    params["target_update"] = trial.suggest_categorical("target_update", ["copy", "polyak"])  # B13
    if params["target_update"] == "polyak":
        params["tau"] = trial.suggest_float("tau", 0.005, 0.5, log=True)
    params["replay_schedule"] = trial.suggest_categorical("replay_schedule", ["per_transition", "sb3"])  # B11
    if params["replay_schedule"] == "sb3":
        params["train_freq"] = trial.suggest_int("train_freq", 1, 16, log=True)
        params["gradient_steps"] = trial.suggest_int("gradient_steps", 1, 8, log=True)


def register() -> None:
    """
    Make ``--algo blogdqn`` and ``--algo blogdqn_tuned`` known to every Zoo script and to ``-optimize``,
    and let ``train`` and ``enjoy`` keep a run's VecStandardScaler statistics (:class:`ScalerSharingExperimentManager`,
    :func:`create_test_env`); idempotent.
    """
    registries = {
        "ALGOS": BlogDQN,
        "HYPERPARAMS_SAMPLER": sample_blogdqn_params,
        "HYPERPARAMS_CONVERTER": convert_blogdqn_params,
    }
    for name in _ZOO_READERS:
        importlib.import_module(name)
    # Each Zoo module binds the registries under its own name, and scripts written like the
    # Zoo's SBX example rebind those names to other dicts: fill every loaded module's.
    for name, module in list(sys.modules.items()):
        if name == "rl_zoo3" or name.startswith("rl_zoo3."):
            for registry, entry in registries.items():
                if isinstance(getattr(module, registry, None), dict):
                    getattr(module, registry)[ALGO_NAME] = entry
                    getattr(module, registry)[TUNED_ALGO_NAME] = entry
    # The scripts look these names up when they run: train builds its envs, enjoy its test env, through ours.
    import rl_zoo3.enjoy
    import rl_zoo3.train

    rl_zoo3.train.ExperimentManager = ScalerSharingExperimentManager  # type: ignore[misc]  # rebinding a class is the point
    rl_zoo3.enjoy.create_test_env = create_test_env
    register_env_families()


def evaluate_policy_kwargs(hyperparams: dict[str, Any]) -> None:
    """
    A config's ``policy_kwargs`` string evaluated in place with ``sb3_blogdqn`` (``MinAtarCNN``), ``th``
    and ``nn`` in scope: the Zoo evaluates it in its own module, where sb3_blogdqn's names are unknown.
    """
    if isinstance(hyperparams.get("policy_kwargs"), str):
        scope = {"dict": dict, "nn": th.nn, "th": th, "sb3_blogdqn": sb3_blogdqn}
        hyperparams["policy_kwargs"] = eval(hyperparams["policy_kwargs"], scope)  # a config's own code, as the Zoo's


def register_env_families() -> None:
    """
    Register the Atari (ale-py) and MinAtar envs with gymnasium when their extras are installed:
    gymnasium 1.x no longer loads the plugins they declare, and the Zoo looks an env id up before
    it makes the env. Idempotent.
    """
    import gymnasium

    with contextlib.suppress(ImportError):
        import ale_py

        gymnasium.register_envs(ale_py)
    with contextlib.suppress(ImportError):
        import minatar.gym

        if "MinAtar/Breakout-v1" not in gymnasium.registry:
            minatar.gym.register_envs()


def _unfitted_scalers(vec_env_wrapper: Any) -> list[Any] | None:
    """
    A config's ``vec_env_wrapper`` with every VecStandardScaler built unfitted (``n_fit_samples=0``),
    to take statistics instead of playing to fit them; None when it has no VecStandardScaler.
    """
    entries = vec_env_wrapper if isinstance(vec_env_wrapper, list) else [vec_env_wrapper]
    unfitted, found = [], False
    for entry in entries:
        name, kwargs = next(iter(entry.items())) if isinstance(entry, dict) else (entry, None)
        if isinstance(name, str):  # resolved as the Zoo resolves it
            module, _, attribute = name.rpartition(".")
            name = getattr(importlib.import_module(module), attribute) if module else None
        if isinstance(name, type) and issubclass(name, VecStandardScaler):
            entry, found = {name: {**(kwargs or {}), "n_fit_samples": 0}}, True
        unfitted.append(entry)
    return unfitted if found else None


def _take_statistics(scaler: VecStandardScaler, source: "VecStandardScaler | Path") -> None:
    """Give an unfitted ``scaler`` the statistics of another scaler or of a file of ``VecStandardScaler.save``."""
    if isinstance(source, Path):
        source = VecStandardScaler.load(source, scaler.venv)  # checked against the env, not played
    scaler.set_statistics_from(source)
    scaler.n_fit_samples = source.n_fit_samples  # what they were fitted on, as its own save() will say


class ScalerSharingExperimentManager(ExperimentManager):
    """
    The Zoo's ExperimentManager (``train``), with one set of VecStandardScaler statistics per run.

    The first training env it builds fits them (or, continuing a run with ``--trained-agent``, takes
    that run's saved ones), and they are saved as ``<run>/<env>/``:data:`SCALER_FILE`. Every other
    env (``EvalCallback``'s, an Optuna trial's) takes them, built with an unfitted scaler: the
    model is evaluated on inputs standardized as it learned them (B4), whatever the env's seed.
    Configs without a VecStandardScaler build their envs exactly as the Zoo does.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unfitted_vec_env_wrapper: Any = None
        self._statistics: VecStandardScaler | Path | None = None
        self._waiting: list[VecStandardScaler] = []  # eval envs built before the training env
        previous = Path(self.trained_agent).parent / self.env_name / SCALER_FILE
        if self.continue_training and previous.is_file():
            self._statistics = previous

    def _preprocess_hyperparams(self, hyperparams: dict[str, Any]) -> tuple[dict[str, Any], Any, Any, Any]:
        evaluate_policy_kwargs(hyperparams)
        unfitted = _unfitted_scalers(hyperparams.get("vec_env_wrapper"))
        if unfitted is not None:
            self._unfitted_vec_env_wrapper = get_wrapper_class({"vec_env_wrapper": unfitted}, "vec_env_wrapper")
        return super()._preprocess_hyperparams(hyperparams)

    def create_envs(self, n_envs: int, eval_env: bool = False, no_log: bool = False) -> VecEnv:
        if self._unfitted_vec_env_wrapper is None:
            return super().create_envs(n_envs, eval_env, no_log)
        if not eval_env and self._statistics is None:
            env = super().create_envs(n_envs, eval_env, no_log)
            scaler = find_vec_wrapper(env, VecStandardScaler)
            assert isinstance(scaler, VecStandardScaler)
            for waiting in self._waiting:
                _take_statistics(waiting, scaler)
            self._waiting.clear()
        else:
            fitting, self.vec_env_wrapper = self.vec_env_wrapper, self._unfitted_vec_env_wrapper
            try:
                env = super().create_envs(n_envs, eval_env, no_log)
            finally:
                self.vec_env_wrapper = fitting
            scaler = find_vec_wrapper(env, VecStandardScaler)
            assert isinstance(scaler, VecStandardScaler)
            if self._statistics is None:
                self._waiting.append(scaler)
            else:
                _take_statistics(scaler, self._statistics)
        if not eval_env:
            self._statistics = scaler
            if not no_log:
                scaler.save(Path(self.params_path) / SCALER_FILE)
        return env


def create_test_env(*args: Any, **kwargs: Any) -> VecEnv:
    """
    ``rl_zoo3.utils.create_test_env`` (``enjoy``'s env), whose VecStandardScaler takes the run's saved
    statistics (``stats_path``/:data:`SCALER_FILE`) instead of fitting on the env's own play.
    """
    call = inspect.signature(zoo_create_test_env).bind(*args, **kwargs)
    hyperparams, stats_path = call.arguments.get("hyperparams") or {}, call.arguments.get("stats_path")
    unfitted = _unfitted_scalers(hyperparams.get("vec_env_wrapper"))
    if unfitted is None:
        return zoo_create_test_env(*call.args, **call.kwargs)
    saved = Path(stats_path or "") / SCALER_FILE
    if stats_path is None or not saved.is_file():
        warnings.warn(
            f"{saved} not found, so the VecStandardScaler fits its statistics again on this env's random play, "
            "which --seed seeds: the training run's --seed gives the training statistics. Runs trained with "
            "sb3-blogdqn-zoo save them there.",
            stacklevel=2,
        )
        return zoo_create_test_env(*call.args, **call.kwargs)
    hyperparams["vec_env_wrapper"] = unfitted  # the Zoo's create_test_env consumes the key, as it would the original
    env = zoo_create_test_env(*call.args, **call.kwargs)
    scaler = find_vec_wrapper(env, VecStandardScaler)
    assert isinstance(scaler, VecStandardScaler)
    _take_statistics(scaler, saved)
    return env


def _experiment_manager(algo: str, env_id: str) -> ExperimentManager:
    config = CONFIG_DIR / f"{algo}.yml"
    if not config.is_file():
        known = sorted(path.stem for path in CONFIG_DIR.glob("*.yml"))
        raise ValueError(f"No project Zoo config {config.name}: the presets are {known}.")
    with contextlib.redirect_stdout(io.StringIO()):  # the Zoo prints what it loads
        register_env_families()  # the manager looks the env id up
    return ExperimentManager(argparse.Namespace(), algo, env_id, log_folder="", config=str(config), verbose=0)


def read_zoo_entry(env_id: str, algo: str = TUNED_ALGO_NAME) -> dict[str, Any]:
    """The env's entry of ``zoo_configs/ALGO.yml`` as written there (the Zoo's YAML form)."""
    manager = _experiment_manager(algo, env_id)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            _, entry = manager.read_hyperparameters()
    except ValueError as error:  # the Zoo's "Hyperparameters not found"
        raise ValueError(f"zoo_configs/{algo}.yml has no entry for {env_id}.") from error
    return dict(entry)


@dataclass
class ZooPreset:
    """
    One entry of the project's Zoo configs, turned into BlogDQN's arguments by the Zoo's own
    preprocessing (``lin_`` schedules, ``policy_kwargs`` strings, ``callback``), so Python
    trains exactly what ``sb3-blogdqn-zoo train --algo ALGO --env ENV`` trains::

        model = load_preset("CartPole-v1").train(seed=0)              # tuned
        model = load_preset("CartPole-v1", "blogdqn").train(seed=0)   # the blog's settings
    """

    env_id: str
    algo: str
    hyperparams: dict[str, Any]
    """The entry as written in ``zoo_configs/ALGO.yml``."""

    def _preprocessed(self) -> tuple[dict[str, Any], int, list[BaseCallback]]:
        manager = _experiment_manager(self.algo, self.env_id)
        hyperparams = dict(self.hyperparams)
        evaluate_policy_kwargs(hyperparams)  # the Zoo's own eval would not know sb3_blogdqn.MinAtarCNN
        with contextlib.redirect_stdout(io.StringIO()):
            kwargs, _, callbacks, _ = manager._preprocess_hyperparams(hyperparams)
        return kwargs, manager.n_timesteps, callbacks

    @property
    def n_timesteps(self) -> int:
        """The entry's budget: at most this many env steps (the ``callback`` may stop earlier)."""
        return self._preprocessed()[1]

    def make_model(self, env: GymEnv | str | None = None, **overrides: Any) -> BlogDQN:
        """A BlogDQN with the entry's arguments (``overrides`` win), on ``env`` (default: the entry's env)."""
        kwargs, _, _ = self._preprocessed()
        kwargs.update(overrides)
        return BlogDQN(env=self.env_id if env is None else env, **kwargs)

    def train(self, seed: int | None = None, callback: BaseCallback | None = None, n_timesteps: int | None = None,
              **overrides: Any) -> BlogDQN:
        """
        Make the model and train it on the entry's budget (or ``n_timesteps``), with the entry's
        callbacks (the episode budget) and ``callback``; ``overrides`` go to the constructor.
        """
        _, budget, callbacks = self._preprocessed()
        model = self.make_model(seed=seed, **overrides)
        callbacks += [callback] if callback is not None else []
        return model.learn(budget if n_timesteps is None else n_timesteps, callback=CallbackList(callbacks))


def load_preset(env_id: str, algo: str = TUNED_ALGO_NAME) -> ZooPreset:
    """The tuned preset of ``env_id`` (``algo="blogdqn"``: the blog's settings), from the installed Zoo configs."""
    return ZooPreset(env_id, algo, read_zoo_entry(env_id, algo))


def _with_default_config(train_args: list[str]) -> list[str]:
    """Add ``--conf-file zoo_configs/ALGO.yml`` unless the user chose a config or we have none."""
    # Parsed as the Zoo parses them (same flags, same defaults, same abbreviations).
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("-conf", "--conf-file", default=None)
    known, _ = parser.parse_known_args(train_args)
    config = CONFIG_DIR / f"{known.algo}.yml"
    if known.conf_file is not None or not config.is_file():
        return train_args  # the user's config, or the Zoo's own hyperparams/ALGO.yml
    return [*train_args, "--conf-file", str(config)]


def main(argv: list[str] | None = None) -> None:
    """``sb3-blogdqn-zoo SCRIPT [flags]``: the Zoo's ``rl_zoo3 SCRIPT``, with BlogDQN registered."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in SCRIPTS:
        print(
            f"usage: sb3-blogdqn-zoo {{{','.join(SCRIPTS)}}} [rl_zoo3 flags]\n"
            "  e.g. sb3-blogdqn-zoo train --algo blogdqn --env CartPole-v1\n"
            "       sb3-blogdqn-zoo enjoy --algo blogdqn --env CartPole-v1 -f logs/ --no-render\n"
            f"train reads {CONFIG_DIR}/ALGO.yml unless --conf-file is given (else the Zoo's own)."
        )
        if argv and argv[0] not in ("-h", "--help"):
            raise SystemExit(f"sb3-blogdqn-zoo: unknown script {argv[0]!r}")
        return
    script, script_args = argv[0], argv[1:]
    register()
    if script == "train":
        script_args = _with_default_config(script_args)
    try:
        run_script = getattr(importlib.import_module(SCRIPTS[script]), script)
    except ImportError as error:
        if not SCRIPTS[script].startswith("rl_zoo3.plots."):
            raise
        # seaborn, rliable and pandas come with rl_zoo3's plots extra, not with sb3-blogdqn's zoo extra.
        raise ImportError(f"The Zoo's {script} needs the Zoo's plots extra: pip install 'rl_zoo3[plots]'") from error
    saved_argv = sys.argv
    sys.argv = [f"sb3-blogdqn-zoo {script}", *script_args]  # the Zoo's scripts parse sys.argv
    try:
        run_script()
    finally:
        sys.argv = saved_argv


if __name__ == "__main__":
    main()
