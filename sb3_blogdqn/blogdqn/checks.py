"""
BlogDQN's checks of its own arguments: every value that cannot work, or cannot combine with a
B-rule, found together and reported as one error (``common.checks.raise_problems``), as SB3's
``check_env`` reports an env's.

Each ``*_problems`` function returns what it finds instead of raising, so that the constructor
can list everything at once; :func:`check_arguments` runs them all. The env's own checks (its
spaces, the wrappers around it) are in ``common.checks`` and ``blogdqn.envs``; the saved files' in
``blogdqn.saving``.
"""

import math
import os
from typing import Any, cast

import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import DictReplayBuffer, NStepReplayBuffer, ReplayBuffer
from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
from stable_baselines3.common.torch_layers import NatureCNN
from stable_baselines3.her import HerReplayBuffer

from sb3_blogdqn.blogdqn.envs import wrap_blog_env
from sb3_blogdqn.blogdqn.objectives import LOSSES
from sb3_blogdqn.blogdqn.policies import POLICY_ALIASES, BlogDQNPolicy, CnnPolicy, MultiInputPolicy
from sb3_blogdqn.common.checks import (
    BLOG_HISTORY_LENGTH,
    Problem,
    SetupError,
    find_vec_wrapper,
    history_length_problems,
    in_range,
    is_bool,
    is_image_state,
    is_integer,
    is_real,
    raise_problems,
)
from sb3_blogdqn.common.wrappers import VecHistory

NONFINITE_MODES = ("raise", "skip")
LOSS_NAMES = " (the blog's is 'mse', B10; SB3's DQN uses 'huber', sb3-contrib's QR-DQN 'quantile')"
QRDQN_N_QUANTILES = 200
"""sb3-contrib's ``QRDQNPolicy`` default, taken when ``loss="quantile"`` is given without ``n_quantiles``."""


def check_arguments(arguments: dict[str, Any]) -> VecHistory | None:
    """
    Check BlogDQN's constructor ``arguments`` (by name) and the env, all problems in one error;
    complete them in place: the env wrapped in its history (B1), ``history_length`` the env's,
    B14's flag where SB3 reads it, the quantile head's size. Returns the env's history, if any.
    """
    env, history_length, history = arguments["env"], arguments["history_length"], None
    problems_of_values = value_problems(arguments)
    problems = argument_problems(arguments)
    if env is None:
        history_length = BLOG_HISTORY_LENGTH if history_length is None else history_length
        problems += history_length_problems(history_length)
    else:
        try:
            env = wrap_blog_env(env, history_length, arguments["verbose"])
        except SetupError as error:
            problems += error.problems
        else:
            history = find_vec_wrapper(env, VecHistory)
            assert history is not None, "wrap_blog_env returns an env with a VecHistory"
            history_length = history.history_length
            problems += n_step_problems(arguments["n_steps"], arguments["replay_buffer_class"], env.num_envs)
            if not any(name in problems_of_values for name in ("policy", "policy_kwargs", "replay_buffer_class")):
                problems += space_problems(arguments, env.observation_space)
    raise_problems(problems)
    # A copy: B14's flag is written into it, and the caller's dict stays as given.
    kwargs = arguments["replay_buffer_kwargs"] = dict(arguments["replay_buffer_kwargs"] or {})
    if arguments["handle_timeout_termination"] is None:  # SB3's way to set it, else the blog's B14
        arguments["handle_timeout_termination"] = kwargs.get("handle_timeout_termination", False)
    kwargs["handle_timeout_termination"] = arguments["handle_timeout_termination"]
    if arguments["loss"] == "quantile":  # the policy's quantile head (QRDQN's n_quantiles, a policy kwarg there too)
        arguments["policy_kwargs"] = {"n_quantiles": QRDQN_N_QUANTILES, **(arguments["policy_kwargs"] or {})}
    arguments.update(env=env, history_length=history_length)
    return history


COUNTS = {
    "buffer_size": (1, "the replay memory's capacity, B5"),
    "learning_starts": (0, "transitions of random play before learning, B6"),
    "batch_size": (1, "transitions per replay, B7"),
    "target_update_interval": (1, "the target update period, B13"),
    "exploration_decisions": (1, "decisions until ε reaches its floor, B8"),
    "gradient_steps": (-1, "-1: one replay per stored transition, B11"),
    "n_steps": (1, "1: the blog's one-step targets, B10"),
    "stats_window_size": (1, "episodes averaged for logging"),
    "verbose": (0, "0 silent, 1 info, 2 debug"),
}
"""BlogDQN's integer arguments: the least value each takes, and what it counts."""
SWITCHES = (
    "target_update_on_episode_step", "loss_on_all_actions", "per_sample_updates", "act_with_target", "double_q",
    "scaler_from_bounds", "standardize_inputs", "skip_short_histories", "optimize_memory_usage",
)
OPTIONAL_SWITCHES = ("handle_timeout_termination", "use_kernel")
"""Switches where None leaves the choice to BlogDQN (B14's flag from SB3's kwargs; the kernel where it can serve)."""
RATES = {  # name: (lowest, highest, lowest excluded, meaning); a highest of inf admits inf
    "gamma": (0.0, 1.0, False, "the discount, the blog's 0.99"),
    "tau": (0.0, 1.0, True, "1: the blog's copy, B13; below it Polyak averaging"),
    "exploration_initial_eps": (0.0, 1.0, False, "ε before the first decision, B8"),
    "exploration_final_eps": (0.0, 1.0, False, "ε's floor, B8"),
    "max_grad_norm": (0.0, math.inf, True, "inf: no clipping, as the blog, B10"),
}
SEED_LIMIT = 2**32  # numpy's seeds are below it


def argument_problems(arguments: dict[str, Any]) -> list[Problem]:
    """
    Every problem of BlogDQN's constructor ``arguments`` (by name) that the env does not decide:
    each argument's own type and range, then the combinations of those that passed.
    """
    a = arguments
    own = value_problems(a)
    problems = list(own.values())

    def valid(*names: str) -> bool:
        return not any(name in own for name in names)

    if valid("buffer_size", "learning_starts", "batch_size"):
        problems += warm_up_problems(a["buffer_size"], a["learning_starts"], a["batch_size"])
    if valid("exploration_initial_eps", "exploration_final_eps") and a["exploration_final_eps"] > a["exploration_initial_eps"]:
        problems.append(Problem(
            "ε must decrease: need exploration_final_eps <= exploration_initial_eps, got "
            f"exploration_initial_eps={a['exploration_initial_eps']} and exploration_final_eps={a['exploration_final_eps']}."
        ))
    if valid("loss", "loss_on_all_actions", "policy_kwargs"):
        problems += quantile_loss_problems(a["loss"], a["loss_on_all_actions"], a["policy_kwargs"])
    if valid("standardize_inputs", "scaler_from_bounds"):
        problems += scaler_problems(a["standardize_inputs"], a["scaler_from_bounds"])
    if valid("replay_buffer_kwargs", "handle_timeout_termination", "optimize_memory_usage"):
        problems += sb3_argument_problems(a["replay_buffer_kwargs"] or {}, a["handle_timeout_termination"],
                                          a["optimize_memory_usage"])
    return problems


def value_problems(arguments: dict[str, Any]) -> dict[str, Problem]:
    """Each argument's own type and range, by name: NaN, inf, a wrong sign or a wrong type, whatever the others are."""
    a = arguments
    problems = {}
    for name, (least, meaning) in COUNTS.items():
        if not is_integer(a[name]) or a[name] < least:
            problems[name] = Problem(f"{name} must be an integer >= {least} ({meaning}), got {a[name]!r}.")
    for name in SWITCHES + OPTIONAL_SWITCHES:
        if not (is_bool(a[name]) or (a[name] is None and name in OPTIONAL_SWITCHES)):
            problems[name] = Problem(f"{name} must be {'True, False or None' if name in OPTIONAL_SWITCHES else 'a bool'}, "
                                     f"got {a[name]!r}.")
    for name, (lowest, highest, open_low, meaning) in RATES.items():
        if not in_range(a[name], lowest, highest, open_low):
            interval = f"{'(' if open_low else '['}{lowest:g}, {highest:g}]"
            problems[name] = Problem(f"{name} must be in {interval} ({meaning}), got {a[name]!r}.")
    fraction = a["exploration_fraction"]
    if fraction is not None and not in_range(fraction, 0.0, 1.0, open_low=True):
        problems["exploration_fraction"] = Problem(
            f"exploration_fraction must be None (the blog's per-decision ε, B8) or in (0, 1], got {fraction!r}."
        )
    for name, problem in (("learning_rate", learning_rate_problem(a["learning_rate"])),
                          ("train_freq", train_freq_problem(a["train_freq"])),
                          ("replay_buffer_class", replay_buffer_class_problem(a["replay_buffer_class"])),
                          ("policy", policy_problem(a["policy"])),
                          ("device", device_problem(a["device"]))):
        if problem is not None:
            problems[name] = problem
    for name, choices in (("on_nonfinite", NONFINITE_MODES), ("loss", tuple(LOSSES))):
        if not (isinstance(a[name], str) and a[name] in choices):
            problems[name] = Problem(f"{name} must be one of {choices}{LOSS_NAMES if name == 'loss' else ''}, "
                                     f"got {a[name]!r}.")
    for name in ("policy_kwargs", "replay_buffer_kwargs"):
        if a[name] is not None and not isinstance(a[name], dict):
            problems[name] = Problem(f"{name} must be a dict or None, got {a[name]!r}.")
    if a["seed"] is not None and not (is_integer(a["seed"]) and 0 <= a["seed"] < SEED_LIMIT):
        problems["seed"] = Problem(f"seed must be None or an integer in [0, 2**32), got {a['seed']!r}.")
    if a["tensorboard_log"] is not None and not isinstance(a["tensorboard_log"], (str, os.PathLike)):
        problems["tensorboard_log"] = Problem(
            f"tensorboard_log must be a folder's path or None, got {a['tensorboard_log']!r}."
        )
    return problems


def learning_rate_problem(learning_rate: Any) -> Problem | None:
    """
    A rate must be a finite number >= 0 (B12; NaN would train every weight to NaN, a negative
    rate climbs the loss; 0 holds the weights fixed). A schedule is checked where it starts and
    ends, at progress 1 and 0 (the RL Zoo's ``lin_`` schedules end at 0).
    """
    if is_real(learning_rate):
        if in_range(learning_rate, 0.0, math.inf) and math.isfinite(learning_rate):
            return None
        return Problem(f"learning_rate must be a finite number >= 0 (the blog's 1e-3, B12) or a schedule, "
                       f"got {learning_rate!r}.")
    if not callable(learning_rate):
        return Problem(f"learning_rate must be a number or a schedule (a function of the progress remaining), "
                       f"got {learning_rate!r}.")
    try:
        rates = learning_rate(1.0), learning_rate(0.0)
    except Exception as error:  # a user's function may fail any way
        return Problem(f"the learning_rate schedule {learning_rate!r} fails at progress 1 or 0: "
                       f"{type(error).__name__}: {error}.")
    if all(in_range(rate, 0.0, math.inf) and math.isfinite(rate) for rate in rates):
        return None
    return Problem(f"the learning_rate schedule {learning_rate!r} must give finite rates >= 0; at progress 1 and 0 it "
                   f"gives {rates[0]!r} and {rates[1]!r}.")


def train_freq_problem(train_freq: Any) -> Problem | None:
    """SB3's forms: ``n``, ``(n, "step")``, ``(n, "episode")`` or a ``TrainFreq``, with ``n`` an integer >= 1."""
    frequency, unit = train_freq if isinstance(train_freq, tuple) and len(train_freq) == 2 else (train_freq, "step")
    if is_integer(frequency) and frequency >= 1 and getattr(unit, "value", unit) in ("step", "episode"):
        return None
    return Problem(f"train_freq must be an integer >= 1 or (n, 'step' or 'episode') (1: the blog's replays, B11), "
                   f"got {train_freq!r}.")


def replay_buffer_class_problem(replay_buffer_class: Any) -> Problem | None:
    if isinstance(replay_buffer_class, type) and issubclass(replay_buffer_class, HerReplayBuffer):
        return Problem(
            "replay_buffer_class=HerReplayBuffer is refused by design: HER relabels the goal of each stored "
            "observation, but BlogDQN stores histories of history_length states (B1), whose goals the env's "
            "compute_reward cannot score, one row per transition from all envs in turn (B2, B5), where HER needs each "
            "env's episodes in order, and draws minibatches without replacement (B7), where HER samples episodes. "
            "Use SB3's DQN with HerReplayBuffer for goal-conditioned tasks."
        )
    memories = (ReplayBuffer, DictReplayBuffer)
    if replay_buffer_class is None or (isinstance(replay_buffer_class, type) and issubclass(replay_buffer_class, memories)):
        return None
    return Problem(f"replay_buffer_class must be a subclass of SB3's ReplayBuffer (DictReplayBuffer for Dict "
                   f"observations), got {replay_buffer_class!r}. Pass None for BlogDQN's memory (B5, B7).")


def policy_problem(policy: Any) -> Problem | None:
    """One of BlogDQN's policy names, or a class of BlogDQN's policy (its scaler, B4; its target, B16)."""
    if isinstance(policy, str) and policy in POLICY_ALIASES:
        return None
    if isinstance(policy, type) and issubclass(policy, BlogDQNPolicy):
        return None
    return Problem(f"policy must be one of {tuple(POLICY_ALIASES)} or a subclass of BlogDQNPolicy, got {policy!r}.")


def space_problems(arguments: dict[str, Any], observation_space: spaces.Space) -> list[Problem]:
    """
    Whether the policy, its extractor, the memory and B4's switches can take the env's observations
    (``observation_space``, its histories): vectors, images or a Dict. Completes ``policy_kwargs``
    in place with the image meaning of ``standardize_inputs`` (SB3's ``normalize_images``).
    """
    policy = POLICY_ALIASES.get(arguments["policy"], arguments["policy"])
    kwargs = dict(arguments["policy_kwargs"] or {})
    dict_space, image = isinstance(observation_space, spaces.Dict), is_image_state(observation_space)
    problems = []
    if dict_space != issubclass(policy, MultiInputPolicy):
        wanted = "MultiInputPolicy" if dict_space else ("CnnPolicy" if image else "MlpPolicy")
        problems.append(Problem(f"policy {policy.__name__} cannot read the env's observations "
                                f"({described(observation_space)}): use '{wanted}'.", space=True))
    elif issubclass(policy, CnnPolicy) and not image:
        problems.append(Problem(f"CnnPolicy reads images (a 3-D Box), the env gives {described(observation_space)}: "
                                "use 'MlpPolicy'.", space=True))
    elif issubclass(policy, CnnPolicy):
        extractor = kwargs.get("features_extractor_class", NatureCNN)
        normalized = not arguments["standardize_inputs"] or kwargs.get("normalize_images") is False
        problems += nature_cnn_problems(extractor, cast(spaces.Box, observation_space), normalized)
    buffer_class = arguments["replay_buffer_class"]
    if dict_space and is_integer(arguments["n_steps"]) and arguments["n_steps"] > 1:
        problems.append(Problem(f"n_steps={arguments['n_steps']} with Dict observations: SB3's n-step memory holds "
                                "arrays, not Dicts. Pass n_steps=1 (the blog's one-step targets, B10).", space=True))
    if buffer_class is not None and dict_space != issubclass(buffer_class, DictReplayBuffer):
        problems.append(Problem(f"replay_buffer_class {buffer_class.__name__} cannot hold the env's observations "
                                f"({described(observation_space)}): pass None for BlogDQN's memory.", space=True))
    if (image or dict_space) and not problems:
        problems += image_scaler_problems(arguments, kwargs, image)
    return problems


def described(space: spaces.Space) -> str:
    """A space in a few words: its kind, shape and dtype (a Box's bounds print long)."""
    if isinstance(space, spaces.Dict):
        return "a Dict of " + ", ".join(f"{key!r}: {described(subspace)}" for key, subspace in space.spaces.items())
    return f"a {type(space).__name__} of shape {space.shape} and dtype {space.dtype}"


def nature_cnn_problems(extractor: Any, space: spaces.Box, normalized: bool) -> list[Problem]:
    """What SB3's ``NatureCNN`` (CnnPolicy's default) cannot read, with the extractor that can."""
    if extractor is not NatureCNN:
        return []
    if not normalized and not is_image_space(space, check_channels=False):
        return [Problem(
            f"NatureCNN reads images of uint8 in [0, 255] (SB3's is_image_space), the env gives {described(space)}. "
            "For MinAtar's boolean states pass policy_kwargs=dict(features_extractor_class=sb3_blogdqn.MinAtarCNN); for "
            "images already in [0, 1] pass standardize_inputs=False (no division by 255).",
            space=True,
        )]
    if min(space.shape[1:] if is_image_space_channels_first(space) else space.shape[:2]) < 36:
        return [Problem(
            f"NatureCNN's filters (8x8 stride 4, 4x4 stride 2, 3x3) need images of at least 36x36, the env gives "
            f"{space.shape}. For MinAtar's 10x10 states pass policy_kwargs=dict(features_extractor_class="
            "sb3_blogdqn.MinAtarCNN).",
            space=True,
        )]
    return []


def image_scaler_problems(arguments: dict[str, Any], policy_kwargs: dict[str, Any], image: bool) -> list[Problem]:
    """B4 on images is SB3's division by 255, which ``standardize_inputs`` switches: it has no bounds to fit."""
    if arguments["scaler_from_bounds"] and image:
        return [Problem(
            "scaler_from_bounds=True sets a StandardScaler from the observation bounds, but on images B4 is SB3's "
            "division by 255 (the bounds of uint8 pixels already); drop scaler_from_bounds.",
        )]
    normalize = policy_kwargs.get("normalize_images")
    if normalize is not None and normalize != arguments["standardize_inputs"]:
        return [Problem(
            f"policy_kwargs normalize_images={normalize} contradicts standardize_inputs={arguments['standardize_inputs']}: "
            "on images B4 is SB3's division by 255, which standardize_inputs sets. Pass standardize_inputs only.",
        )]
    arguments["policy_kwargs"] = {**policy_kwargs, "normalize_images": bool(arguments["standardize_inputs"])}
    return []


def device_problem(device: Any) -> Problem | None:
    if isinstance(device, th.device) or device == "auto":
        return None
    try:
        th.device(device)
    except (RuntimeError, TypeError):
        return Problem(f"device must be 'auto', a torch device or its name ('cpu', 'cuda'), got {device!r}.")
    return None


def warm_up_problems(buffer_size: int, learning_starts: int, batch_size: int) -> list[Problem]:
    """The warm-up (B6) and the first minibatch (B7) must fit in the replay memory (B5)."""
    if max(learning_starts, batch_size) <= buffer_size:
        return []
    return [Problem(
        f"The warm-up (B6) of max(learning_starts={learning_starts}, batch_size={batch_size}) transitions exceeds "
        f"buffer_size={buffer_size}: they must all fit in the replay memory, since the scaler is fitted on them "
        "and the first replay draws batch_size distinct ones (B7). Lower them or raise buffer_size."
    )]


def quantile_loss_problems(loss: str, loss_on_all_actions: bool, policy_kwargs: dict[str, Any] | None) -> list[Problem]:
    """The quantile loss and the policy's quantile head go together, and fit the taken action only."""
    n_quantiles = (policy_kwargs or {}).get("n_quantiles")
    problems = []
    if loss == "quantile" and loss_on_all_actions:
        problems.append(Problem(
            "loss='quantile' fits the taken action's quantiles to the TD target's; B10's targets on all actions "
            "(loss_on_all_actions=True, the default) have no quantiles for the other actions. Pass "
            "loss_on_all_actions=False."
        ))
    if n_quantiles is not None and loss != "quantile":
        problems.append(Problem(
            f"policy_kwargs n_quantiles={n_quantiles} gives the network a quantile head, which only the quantile loss "
            f"trains; loss is {loss!r}. Pass loss='quantile' or drop n_quantiles."
        ))
    elif n_quantiles is not None and (not isinstance(n_quantiles, int) or n_quantiles < 1):
        problems.append(Problem(f"policy_kwargs n_quantiles must be an int >= 1, got {n_quantiles!r}."))
    return problems


def scaler_problems(standardize_inputs: bool, scaler_from_bounds: bool) -> list[Problem]:
    """B4's two switches: the bounds can only set a scaler that is there."""
    if not standardize_inputs and scaler_from_bounds:
        return [Problem(
            "scaler_from_bounds=True sets the StandardScaler's statistics from the observation space's bounds, but "
            "standardize_inputs=False leaves the inputs unscaled. Drop one of the two."
        )]
    return []


def sb3_argument_problems(
    replay_buffer_kwargs: dict[str, Any],
    handle_timeout_termination: bool | None,
    optimize_memory_usage: bool,
) -> list[Problem]:
    """SB3 DQN's own arguments, where a value cannot combine with a B-rule."""
    problems = []
    in_kwargs = replay_buffer_kwargs.get("handle_timeout_termination", handle_timeout_termination)
    if handle_timeout_termination is not None and in_kwargs != handle_timeout_termination:
        problems.append(Problem(
            f"replay_buffer_kwargs has handle_timeout_termination={in_kwargs}, but the argument "
            f"handle_timeout_termination={handle_timeout_termination} contradicts it (B14): pass it once."
        ))
    if optimize_memory_usage:
        problems.append(Problem(
            "optimize_memory_usage=True reads each next observation from the following row of the replay buffer, but "
            "BlogDQN's memory stores transitions one by one as their histories fill (B2, B5), from every env in turn, "
            "so the following row is another transition. Leave optimize_memory_usage=False (2,000 transitions, B5, "
            "are small)."
        ))
    return problems


def n_step_problems(n_steps: int, replay_buffer_class: type | None, n_envs: int) -> list[Problem]:
    """n-step returns read consecutive rows as consecutive steps: true of BlogDQN's memory with one env only."""
    if not is_integer(n_steps) or replay_buffer_class_problem(replay_buffer_class) is not None:
        return []  # reported by value_problems
    n_step_buffer = replay_buffer_class is not None and issubclass(replay_buffer_class, NStepReplayBuffer)
    if (n_steps > 1 or n_step_buffer) and n_envs > 1:
        return [Problem(
            f"n-step returns (n_steps={n_steps}{', an NStepReplayBuffer' if n_step_buffer else ''}) with {n_envs} envs: "
            "they add up consecutive rows of the memory, but BlogDQN stores the transitions of all envs in one FIFO "
            "(B5), so consecutive rows belong to different envs. Use one env, or n_steps=1."
        )]
    return []


def batch_of_one_problems(policy: Any) -> list[Problem]:
    """Layers that cannot train on the batches of one of B11's per-sample updates."""
    from torch import nn

    batch_norm = nn.modules.batchnorm._BatchNorm
    batch_norms = sorted({type(module).__name__ for module in policy.modules() if isinstance(module, batch_norm)})
    if not batch_norms:
        return []
    return [Problem(
        f"The policy has {', '.join(batch_norms)} layers, which cannot train on batches of one: with "
        "per_sample_updates=True each replay fits its minibatch one sample at a time (B11). Pass "
        "per_sample_updates=False (one Adam step per minibatch), or use a network without batch normalization."
    )]


def unfinished_warm_up_message(model: Any, longest_episode: int | None) -> str:
    """Why ``learn()`` ended inside the warm-up (B6) and what to do, given the longest episode seen."""
    message = (
        f"learn() ended after {model.num_timesteps} env steps still in the warm-up (B6): {model.replay_buffer.size()} "
        f"of {model.warmup_size} full-history transitions are stored, so nothing was learned yet. "
    )
    if longest_episode is not None and longest_episode < model.history_length and model.skip_short_histories:
        return message + (
            f"The env's episodes last at most {longest_episode} steps, fewer than history_length={model.history_length}: "
            f"a transition is stored only once the history is full (B2), so none ever will be. Use a smaller "
            "history_length or an env with longer episodes."
        )
    return message + "Call learn() again to continue (the warm-up goes on), or lower learning_starts."
