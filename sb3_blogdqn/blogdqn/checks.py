"""
BlogDQN's checks of its own arguments: every value that cannot work, or cannot combine with a
B-rule, found together and reported as one error (``common.checks.raise_problems``), as SB3's
``check_env`` reports an env's.

Each ``*_problems`` function returns what it finds instead of raising, so that the constructor
can list everything at once; :func:`check_arguments` runs them all. The env's own checks (its
spaces, the wrappers around it) are in ``common.checks`` and ``blogdqn.envs``; the saved files' in
``blogdqn.saving``.
"""

from typing import Any

import numpy as np
from stable_baselines3.common.buffers import DictReplayBuffer, NStepReplayBuffer, ReplayBuffer

from sb3_blogdqn.blogdqn.envs import wrap_blog_env
from sb3_blogdqn.blogdqn.objectives import LOSSES
from sb3_blogdqn.common.checks import (
    BLOG_HISTORY_LENGTH,
    Problem,
    SetupError,
    find_vec_wrapper,
    history_length_problems,
    raise_problems,
)
from sb3_blogdqn.common.wrappers import VecHistory

NONFINITE_MODES = ("raise", "skip")
QRDQN_N_QUANTILES = 200
"""sb3-contrib's ``QRDQNPolicy`` default, taken when ``loss="quantile"`` is given without ``n_quantiles``."""


def check_arguments(arguments: dict[str, Any]) -> VecHistory | None:
    """
    Check BlogDQN's constructor ``arguments`` (by name) and the env, all problems in one error;
    complete them in place: the env wrapped in its history (B1), ``history_length`` the env's,
    B14's flag where SB3 reads it, the quantile head's size. Returns the env's history, if any.
    """
    env, history_length, history = arguments["env"], arguments["history_length"], None
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
            history_length = history.history_length
            problems += n_step_problems(arguments["n_steps"], arguments["replay_buffer_class"], env.num_envs)
    raise_problems(problems)
    kwargs = arguments["replay_buffer_kwargs"]
    if arguments["handle_timeout_termination"] is None:  # SB3's way to set it, else the blog's B14
        arguments["handle_timeout_termination"] = kwargs.get("handle_timeout_termination", False)
    kwargs["handle_timeout_termination"] = arguments["handle_timeout_termination"]
    if arguments["loss"] == "quantile":  # the policy's quantile head (QRDQN's n_quantiles, a policy kwarg there too)
        arguments["policy_kwargs"] = {"n_quantiles": QRDQN_N_QUANTILES, **(arguments["policy_kwargs"] or {})}
    arguments.update(env=env, history_length=history_length)
    return history


def argument_problems(arguments: dict[str, Any]) -> list[Problem]:
    """Every problem of BlogDQN's constructor ``arguments`` (by name) that the env does not decide."""
    a = arguments
    return [
        *hyperparameter_problems(
            a["buffer_size"], a["learning_starts"], a["batch_size"], a["target_update_interval"],
            a["exploration_decisions"], a["gamma"], a["exploration_initial_eps"], a["exploration_final_eps"],
            a["exploration_fraction"], a["on_nonfinite"], a["loss"],
        ),
        *sb3_argument_problems(
            a["tau"], a["gradient_steps"], a["replay_buffer_class"], a["replay_buffer_kwargs"],
            a["handle_timeout_termination"], a["optimize_memory_usage"], a["n_steps"], a["max_grad_norm"],
        ),
        *quantile_loss_problems(a["loss"], a["loss_on_all_actions"], a["policy_kwargs"]),
        *scaler_problems(a["standardize_inputs"], a["scaler_from_bounds"]),
    ]


def hyperparameter_problems(
    buffer_size: int,
    learning_starts: int,
    batch_size: int,
    target_update_interval: int,
    exploration_decisions: int,
    gamma: float = 0.99,
    exploration_initial_eps: float = 1.0,
    exploration_final_eps: float = 1e-4,
    exploration_fraction: float | None = None,
    on_nonfinite: str = "raise",
    loss: str = "mse",
) -> list[Problem]:
    """The sizes and rates BlogDQN's constructor takes, checked together."""
    problems = []
    for name, value in (("buffer_size", buffer_size), ("batch_size", batch_size),
                        ("target_update_interval", target_update_interval),
                        ("exploration_decisions", exploration_decisions)):
        if value < 1:
            problems.append(Problem(f"{name} must be >= 1, got {value}."))
    if max(learning_starts, batch_size) > buffer_size:
        problems.append(Problem(
            f"The warm-up (B6) of max(learning_starts={learning_starts}, batch_size={batch_size}) transitions exceeds "
            f"buffer_size={buffer_size}: they must all fit in the replay memory, since the scaler is fitted on them "
            "and the first replay draws batch_size distinct ones (B7). Lower them or raise buffer_size."
        ))
    if not 0.0 <= gamma <= 1.0:
        problems.append(Problem(f"gamma must be in [0, 1] (the blog uses 0.99), got {gamma}."))
    if not 0.0 <= exploration_final_eps <= exploration_initial_eps <= 1.0:
        problems.append(Problem(
            "ε must decrease within [0, 1]: need 0 <= exploration_final_eps <= exploration_initial_eps <= 1, got "
            f"exploration_initial_eps={exploration_initial_eps} and exploration_final_eps={exploration_final_eps}."
        ))
    if exploration_fraction is not None and not 0.0 < exploration_fraction <= 1.0:
        problems.append(Problem(
            f"exploration_fraction must be None (the blog's per-decision ε, B8) or in (0, 1], got {exploration_fraction}."
        ))
    if on_nonfinite not in NONFINITE_MODES:
        problems.append(Problem(f"on_nonfinite must be one of {NONFINITE_MODES}, got {on_nonfinite!r}."))
    if loss not in LOSSES:
        problems.append(Problem(f"loss must be one of {tuple(LOSSES)} (the blog's is 'mse', B10; SB3's DQN uses 'huber', "
                                f"sb3-contrib's QR-DQN 'quantile'), got {loss!r}."))
    return problems


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
    tau: float,
    gradient_steps: int,
    replay_buffer_class: type | None,
    replay_buffer_kwargs: dict[str, Any],
    handle_timeout_termination: bool | None,
    optimize_memory_usage: bool,
    n_steps: int,
    max_grad_norm: float,
) -> list[Problem]:
    """SB3 DQN's own arguments, where a value cannot work or cannot combine with a B-rule."""
    problems = []
    if not 0.0 < tau <= 1.0:
        problems.append(Problem(f"tau must be in (0, 1] (1: the blog's copy, B13; below it Polyak averaging), got {tau}."))
    if not isinstance(gradient_steps, (int, np.integer)) or gradient_steps < -1:
        problems.append(Problem(
            f"gradient_steps must be an integer >= -1 (-1: one replay per stored transition, B11), got {gradient_steps!r}."
        ))
    if replay_buffer_class is not None and (
        not (isinstance(replay_buffer_class, type) and issubclass(replay_buffer_class, ReplayBuffer))
        or issubclass(replay_buffer_class, DictReplayBuffer)
    ):
        problems.append(Problem(
            f"replay_buffer_class must be a subclass of SB3's ReplayBuffer for vector observations, got "
            f"{replay_buffer_class!r}. Pass None for BlogDQN's memory (B5, B7)."
        ))
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
    if not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        problems.append(Problem(f"n_steps must be an integer >= 1 (1: the blog's one-step targets, B10), got {n_steps!r}."))
    if not max_grad_norm > 0:
        problems.append(Problem(f"max_grad_norm must be > 0 (inf: no clipping, as the blog, B10), got {max_grad_norm}."))
    return problems


def n_step_problems(n_steps: int, replay_buffer_class: type | None, n_envs: int) -> list[Problem]:
    """n-step returns read consecutive rows as consecutive steps: true of BlogDQN's memory with one env only."""
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
