"""The observation history (rules B1-B3) and the env checks BlogDQN relies on."""

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecFrameStack, VecNormalize
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn


class VecHistory(VecEnvWrapper):
    """
    Feed the agent the last ``history_length`` raw states, oldest first (B1).

    ``[s(t-3), s(t-2), s(t-1), s(t)]`` flattened, one history per sub-env. At reset the
    history is padded with copies of the first state (B3), which is how the blog acts
    after learning. While learning, BlogDQN itself ignores the padded histories of the
    first ``history_length - 1`` steps (B2): it acts randomly there and stores nothing.
    On episode end the ``terminal_observation`` in ``infos`` is turned into the terminal
    *history*, so off-policy buffers store the next history correctly (B5).

    Unlike ``VecFrameStack`` (zero padding, meant for images) this keeps the history
    flat, so the blog's MLP and StandardScaler see one vector per step.

    :param venv: the vectorized env of raw states (a flat ``Box`` observation space)
    :param history_length: number of states in the history (the blog's ``agent_hist_len``)
    """

    def __init__(self, venv: VecEnv, history_length: int = 4) -> None:
        check_history_length(history_length)
        check_flat_box(venv.observation_space)
        space = venv.observation_space
        self.history_length = history_length
        self.state_dim = int(space.shape[0])
        observation_space = spaces.Box(
            low=np.tile(space.low, history_length),
            high=np.tile(space.high, history_length),
            dtype=space.dtype,
        )
        super().__init__(venv, observation_space=observation_space)
        self.history = np.zeros((venv.num_envs, history_length, self.state_dim), dtype=space.dtype)

    def reset(self) -> np.ndarray:
        states = self.venv.reset()
        self.history[:] = states[:, None, :]  # B3: pad with the first state
        return self._flat()

    def step_wait(self) -> VecEnvStepReturn:
        states, rewards, dones, infos = self.venv.step_wait()
        self.history = np.roll(self.history, -1, axis=1)
        self.history[:, -1] = states
        for i in np.flatnonzero(dones):
            # states[i] already belongs to the next episode: build the terminal history
            # from the old one and the terminal state, then restart padded (B3).
            terminal_state = infos[i].get("terminal_observation")
            if terminal_state is not None:
                terminal_history = self.history[i].copy()
                terminal_history[-1] = terminal_state
                infos[i]["terminal_observation"] = terminal_history.reshape(-1)
            self.history[i] = states[i]
        return self._flat(), rewards, dones, infos

    def _flat(self) -> np.ndarray:
        return self.history.reshape(self.num_envs, -1).copy()


def check_history_length(history_length: int) -> None:
    if not isinstance(history_length, (int, np.integer)) or history_length < 1:
        raise ValueError(
            f"history_length must be an integer >= 1 (the number of states the agent sees, B1), "
            f"got {history_length!r}. Use 4 for the blog's setting or 1 for no history."
        )


def check_flat_box(observation_space: spaces.Space) -> None:
    """Raise a ``TypeError`` naming the fix unless the observations are flat real vectors."""
    if isinstance(observation_space, spaces.Dict):
        hint = "flatten it with gymnasium.wrappers.FlattenObservation"
    elif isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 3:
        hint = (
            "BlogDQN's MLP and StandardScaler are made for state vectors, not images; use SB3's DQN "
            "with CnnPolicy, or flatten the image with gymnasium.wrappers.FlattenObservation"
        )
    elif isinstance(observation_space, spaces.Box) and len(observation_space.shape) != 1:
        hint = "flatten it with gymnasium.wrappers.FlattenObservation"
    elif isinstance(observation_space, spaces.Box):
        return
    else:
        hint = "wrap the env so that it returns a 1-D Box (e.g. one-hot encode a Discrete state)"
    raise TypeError(
        f"BlogDQN needs a flat Box observation space (a 1-D vector of reals), got {observation_space}: {hint}."
    )


def check_discrete_actions(action_space: spaces.Space) -> None:
    if not isinstance(action_space, spaces.Discrete):
        raise TypeError(
            f"BlogDQN needs a Discrete action space (one Q-value per action), got {action_space}. "
            "For continuous actions use SAC or TD3; for MultiDiscrete, flatten the action set "
            "into one Discrete space with a wrapper."
        )


def find_vec_wrapper(env: VecEnv, wrapper_class: type[VecEnvWrapper]) -> VecEnvWrapper | None:
    while isinstance(env, VecEnvWrapper):
        if isinstance(env, wrapper_class):
            return env
        env = env.venv
    return None


def wrap_blog_env(env: gym.Env | VecEnv | str, history_length: int, verbose: int = 0) -> VecEnv:
    """
    Return ``env`` as a VecEnv ending in a :class:`VecHistory` of ``history_length``.

    An env id is built with :func:`make_blog_env`; a gymnasium env or a VecEnv gets SB3's
    usual ``Monitor``/``DummyVecEnv`` wrapping and then the history, unless it already has
    one. Envs carrying ``VecFrameStack`` or ``VecNormalize`` are refused: BlogDQN keeps
    its own history (B1) and its own frozen scaler (B4).
    """
    check_history_length(history_length)
    if isinstance(env, str):
        return make_blog_env(env, history_length=history_length)
    check_discrete_actions(env.action_space)
    vec_env = BaseAlgorithm._wrap_env(env, verbose)
    for wrapper_class, own in ((VecFrameStack, "its own observation history (history_length)"),
                               (VecNormalize, "its own StandardScaler fitted on the warm-up (B4)")):
        if find_vec_wrapper(vec_env, wrapper_class) is not None:
            raise ValueError(
                f"The env is wrapped in {wrapper_class.__name__}, but BlogDQN applies {own}: stacking both "
                "would break the replay buffer's next observations or normalize twice. Remove the "
                f"{wrapper_class.__name__} (in an RL Zoo config: drop 'frame_stack' / 'normalize')."
            )
    history = find_vec_wrapper(vec_env, VecHistory)
    if history is None:
        check_flat_box(vec_env.observation_space)
        return VecHistory(vec_env, history_length)
    if history.history_length != history_length:
        raise ValueError(
            f"The env already has a VecHistory of length {history.history_length}, but BlogDQN was "
            f"given history_length={history_length}. Build the env with the same history_length."
        )
    return vec_env


def make_blog_env(
    env_id: str,
    n_envs: int = 1,
    history_length: int = 4,
    seed: int | None = None,
    env_kwargs: dict[str, Any] | None = None,
    **make_vec_env_kwargs: Any,
) -> VecHistory:
    """
    Build the env BlogDQN trains on and is evaluated on: ``n_envs`` copies of ``env_id``,
    each in a ``Monitor``, vectorized by SB3's ``make_vec_env`` and wrapped in a
    :class:`VecHistory`. Pass the result to ``evaluate_policy`` or ``EvalCallback``.

    :param env_id: a registered gymnasium id, e.g. ``"CartPole-v1"``
    :param n_envs: number of parallel envs (each keeps its own history)
    :param history_length: states per history (must match the model's)
    :param seed: seed of the first env (SB3 convention: env ``i`` gets ``seed + i``)
    :param env_kwargs: passed to ``gymnasium.make``
    :param make_vec_env_kwargs: passed to SB3's ``make_vec_env`` (``vec_env_cls``, ``monitor_dir``...)
    """
    check_history_length(history_length)
    venv = make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs, **make_vec_env_kwargs)
    check_discrete_actions(venv.action_space)
    return VecHistory(venv, history_length)
