"""The observation history (rules B1-B3) and the env checks BlogDQN relies on."""

from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.preprocessing import get_flattened_obs_dim, preprocess_obs
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from sb3_blogdqn.common.checks import (
    BLOG_HISTORY_LENGTH,
    action_space_problems,
    check_discrete_actions,
    check_history_length,
    check_vector_observations,
    find_vec_wrapper,
    history_length_problems,
    observation_space_problems,
    raise_problems,
    vec_wrapper_problems,
)


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

    Discrete, MultiDiscrete and MultiBinary states are encoded first, as SB3's DQN encodes
    them (``preprocess_obs``: one-hot, concatenated one-hots, floats), so the history and
    the scaler see the vectors SB3's network would.

    :param venv: the vectorized env of states (a flat ``Box``, or a space in ``checks.ENCODED_SPACES``)
    :param history_length: number of states in the history (the blog's ``agent_hist_len``)
    """

    def __init__(self, venv: VecEnv, history_length: int = BLOG_HISTORY_LENGTH) -> None:
        check_history_length(history_length)
        check_vector_observations(venv.observation_space)
        self.state_space = venv.observation_space
        space = encoded_space(venv.observation_space)
        self.history_length = history_length
        self.state_dim = int(space.shape[0])
        observation_space = spaces.Box(
            low=np.tile(space.low, history_length),
            high=np.tile(space.high, history_length),
            dtype=space.dtype,
        )
        super().__init__(venv, observation_space=observation_space)
        self.history = np.zeros((venv.num_envs, history_length, self.state_dim), dtype=space.dtype)

    def _encode(self, states: np.ndarray) -> np.ndarray:
        return encode_states(states, self.state_space)

    def reset(self) -> np.ndarray:
        states = self._encode(self.venv.reset())
        self.history[:] = states[:, None, :]  # B3: pad with the first state
        return self._flat()

    def step_wait(self) -> VecEnvStepReturn:
        states, rewards, dones, infos = self.venv.step_wait()
        states = self._encode(states)
        self.history[:, :-1] = self.history[:, 1:]  # shift in place: cheaper than np.roll, per env step
        self.history[:, -1] = states
        for i in np.flatnonzero(dones):
            # states[i] already belongs to the next episode: build the terminal history
            # from the old one and the terminal state, then restart padded (B3).
            terminal_state = infos[i].get("terminal_observation")
            if terminal_state is not None:
                terminal_history = self.history[i].copy()
                terminal_history[-1] = self._encode(np.asarray(terminal_state)[None])[0]
                infos[i]["terminal_observation"] = terminal_history.reshape(-1)
            self.history[i] = states[i]
        return self._flat(), rewards, dones, infos

    def _flat(self) -> np.ndarray:
        return self.history.reshape(self.num_envs, -1).copy()


def encode_states(states: np.ndarray, state_space: spaces.Space) -> np.ndarray:
    """
    A batch of states as the vectors SB3's DQN feeds its network, one row each: Box states
    unchanged, the others encoded by SB3's own ``preprocess_obs`` (one-hot, floats).
    """
    if isinstance(state_space, spaces.Box):
        return states
    return preprocess_obs(th.as_tensor(states), state_space).reshape(len(states), -1).numpy()


def encoded_space(observation_space: spaces.Space) -> spaces.Box:
    """The Box of the vectors SB3's ``preprocess_obs`` makes of ``observation_space``'s states."""
    if isinstance(observation_space, spaces.Box):
        return observation_space
    size = get_flattened_obs_dim(observation_space)
    return spaces.Box(low=0.0, high=1.0, shape=(size,), dtype=np.float32)


def env_history(vec_env: VecEnv) -> VecHistory | None:
    """``vec_env``'s :class:`VecHistory`, or None when it has none."""
    return find_vec_wrapper(vec_env, VecHistory)  # type: ignore[return-value]


def wrap_blog_env(env: gym.Env | VecEnv | str, history_length: int | None, verbose: int = 0) -> VecEnv:
    """
    Return ``env`` as a VecEnv ending in a :class:`VecHistory` of ``history_length``.

    An env id is built as :func:`make_blog_env` does; a gymnasium env or a VecEnv gets SB3's
    usual ``Monitor``/``DummyVecEnv`` wrapping and then the history, unless it already has
    one (``history_length=None`` takes its length, else the blog's 4). Envs carrying
    ``VecFrameStack`` or ``VecNormalize`` are refused: BlogDQN keeps its own history (B1)
    and its own frozen scaler (B4). All problems found are raised together
    (``checks.SetupError``; ``checks.SpaceError`` if only the spaces are wrong).
    """
    problems = [] if history_length is None else history_length_problems(history_length)
    if isinstance(env, str):
        env = make_vec_env(env)
    problems += action_space_problems(env.action_space)
    vec_env = BaseAlgorithm._wrap_env(env, verbose)
    problems += vec_wrapper_problems(vec_env, history_length)
    if find_vec_wrapper(vec_env, VecHistory) is None:
        problems += observation_space_problems(vec_env.observation_space)
    raise_problems(problems)
    if find_vec_wrapper(vec_env, VecHistory) is None:
        return VecHistory(vec_env, BLOG_HISTORY_LENGTH if history_length is None else history_length)
    return vec_env


def make_blog_env(
    env_id: str,
    n_envs: int = 1,
    history_length: int = BLOG_HISTORY_LENGTH,
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
