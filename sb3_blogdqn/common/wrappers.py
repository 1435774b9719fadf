"""The blog's input pipeline as VecEnv wrappers: the observation history (B1-B3) and the frozen StandardScaler (B4)."""

import copy
import json
import os
import pickle
import sys
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.preprocessing import (
    get_flattened_obs_dim,
    is_image_space,
    is_image_space_channels_first,
    preprocess_obs,
)
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecFrameStack, VecNormalize
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from sb3_blogdqn.common.checks import (
    BLOG_HISTORY_LENGTH,
    Problem,
    SetupError,
    check_discrete_actions,
    check_history_length,
    find_vec_wrapper,
    is_bool,
    is_image_state,
    is_integer,
    is_real,
    observation_space_problems,
    raise_problems,
)
from sb3_blogdqn.common.files import write_atomically
from sb3_blogdqn.common.scaling import fit_standard_scaler, standardize

SCALER_FORMAT = "sb3_blogdqn.VecStandardScaler"
SCALER_FORMAT_VERSION = 1
PICKLE_START = b"\x80"  # the PROTO opcode: every pickle of protocol 2 or more (pickle.dump's default) starts with it
FIT_PLAY_STEP_FACTOR = 100
"""The fitting play's limit, in env steps per observation to fit and per observation left out at an episode's start."""


class Histories:
    """
    The last ``history_length`` states of each of several envs, oldest first (B1), as one array
    ``(n_envs, history_length, *state_shape)``: the shift-and-pad of :class:`VecHistory`, which
    ``BlogDQN.predict`` applies too, to the unwrapped env's states it is given. ``channel_axis``
    (of the state's shape) says how a history is laid out for the network: None, a vector's states
    one after the other; 0 or -1, an image's channels stacked on that axis (as ``VecFrameStack``).
    """

    def __init__(self, array: np.ndarray, channel_axis: int | None = None) -> None:
        self.array = array
        self.channel_axis = channel_axis

    @classmethod
    def started(cls, states: np.ndarray, history_length: int, dtype: np.dtype,
                channel_axis: int | None = None) -> "Histories":
        """Each env's history at its episode's start: its first state, repeated (B3)."""
        return cls(np.repeat(states[:, None], history_length, axis=1).astype(dtype, copy=False), channel_axis)

    @classmethod
    def continued(cls, state: tuple[np.ndarray, ...] | None, states: np.ndarray, episode_start: np.ndarray | None,
                  history_length: int, dtype: np.dtype, channel_axis: int | None = None) -> "Histories":
        """
        The histories a recurrent-style ``predict`` acts on: those it returned as its ``state`` last
        time with ``states`` pushed in (B1), started anew (B3) without a ``state`` or where ``episode_start``.
        """
        if state is None:
            return cls.started(states, history_length, dtype, channel_axis)
        histories = cls(np.array(state[0], dtype=dtype), channel_axis)
        histories.push(states)
        if episode_start is not None:
            histories.restart(states, np.asarray(episode_start, dtype=bool).reshape(-1))
        return histories

    def restart(self, states: np.ndarray, envs: Any) -> None:
        """Start the histories of ``envs`` (an index, a mask or a slice) anew from their first states (B3)."""
        self.array[envs] = states[envs, None]

    def push(self, states: np.ndarray) -> None:
        """Each env's newest state in, its oldest out (B1); in place: cheaper than np.roll, per env step."""
        self.array[:, :-1] = self.array[:, 1:]
        self.array[:, -1] = states

    def flat(self) -> np.ndarray:
        """One history per row as the network reads it: ``[s(t-3), s(t-2), s(t-1), s(t)]`` (B1), see the class."""
        return self.laid_out(self.array)

    def laid_out(self, array: np.ndarray) -> np.ndarray:
        """
        ``array``, histories ``(n, history_length, *state_shape)``, laid out as :meth:`flat` lays them
        out, always in a new array: a view would change under the caller when :meth:`push` shifts the
        histories in place (BlogDQN keeps the last observation to store it with the next one, B5).
        """
        n = len(array)
        if self.channel_axis is None:
            return array.reshape(n, -1).copy()
        if self.channel_axis == 0:  # (k, C, H, W) -> (k*C, H, W): the oldest state's channels first
            return array.reshape(n, -1, *array.shape[3:]).copy()
        stacked = np.moveaxis(array, 1, -2).reshape(*array.shape[:1], *array.shape[2:-1], -1)  # (H, W, k*C)
        # The reshape copies whenever k > 1; with k = 1 it is a view of the histories: copy that one only.
        return stacked.copy() if np.may_share_memory(stacked, array) else stacked


def history_space(state_space: spaces.Box, history_length: int, channel_axis: int | None) -> spaces.Box:
    """The Box of :class:`Histories` laid out for the network, from the Box of one (encoded) state."""
    if channel_axis is None:
        return spaces.Box(np.tile(state_space.low.reshape(-1), history_length),
                          np.tile(state_space.high.reshape(-1), history_length), dtype=state_space.dtype)
    return spaces.Box(np.concatenate([state_space.low] * history_length, axis=channel_axis),
                      np.concatenate([state_space.high] * history_length, axis=channel_axis), dtype=state_space.dtype)


def state_channel_axis(state_space: spaces.Space, channels_order: str | None = None) -> int | None:
    """
    Where an image state's channels are (0 or -1), or None for a vector. ``channels_order`` ("first" or
    "last") says it; else, for uint8 images, SB3's guess (``is_image_space_channels_first``: the smallest
    dimension; SB3 transposes those to channels first), and for other images gymnasium's convention, last
    (MinAtar's booleans: a 10x10x10 Seaquest frame defeats the guess).
    """
    if not is_image_state(state_space):
        return None
    if channels_order is not None:
        return 0 if channels_order == "first" else -1
    box = cast(spaces.Box, state_space)
    if is_image_space(box, check_channels=False):
        return 0 if is_image_space_channels_first(box) else -1
    return -1


class VecHistory(VecEnvWrapper):
    """
    Feed the agent the last ``history_length`` raw states, oldest first (B1).

    For vectors, ``[s(t-3), s(t-2), s(t-1), s(t)]`` flattened, one history per sub-env; for
    images (a 3-D Box), the states' channels stacked on the channel axis, the oldest first, as
    ``VecFrameStack`` stacks them; for a Dict space, each key's history so. At reset the history
    is padded with copies of the first state (B3), which is how the blog acts after learning
    (``VecFrameStack`` pads with zeros). While learning, BlogDQN itself ignores the padded
    histories of the first ``history_length - 1`` steps (B2): it acts randomly there and stores
    nothing. On episode end the ``terminal_observation`` in ``infos`` is turned into the terminal
    *history*, so off-policy buffers store the next history correctly (B5).

    Discrete, MultiDiscrete and MultiBinary states are encoded first, as SB3's DQN encodes
    them (``preprocess_obs``: one-hot, concatenated one-hots, floats), so the history and
    the scaler see the vectors SB3's network would.

    :param venv: the vectorized env of states (a flat ``Box``, a space in ``checks.ENCODED_SPACES``,
        an image, or a Dict of those)
    :param history_length: number of states in the history (the blog's ``agent_hist_len``); 1 over
        an env that stacks frames already (``VecFrameStack``)
    :param channels_order: ``"first"`` or ``"last"``: where images keep their channels; None takes
        SB3's guess for uint8 images (the smallest dimension) and gymnasium's convention, last, for
        others (MinAtar's boolean frames)
    """

    observation_space: spaces.Box | spaces.Dict  # type: ignore[assignment]

    def __init__(self, venv: VecEnv, history_length: int = BLOG_HISTORY_LENGTH,
                 channels_order: str | None = None) -> None:
        check_history_length(history_length)
        problems = observation_space_problems(venv.observation_space)
        if channels_order not in (None, "first", "last"):
            problems.append(Problem(f"channels_order must be None, 'first' or 'last', got {channels_order!r}."))
        problems += frame_stack_problems(venv, history_length)
        raise_problems(problems)
        self.state_space = venv.observation_space
        self.history_length = history_length
        self.channels_order = channels_order
        # One part per key of a Dict space (the key None for any other): its encoded state space and channel axis.
        space = venv.observation_space
        subspaces = space.spaces if isinstance(space, spaces.Dict) else {None: space}
        self._parts = {key: (subspace, encoded_space(subspace), state_channel_axis(subspace, channels_order))
                       for key, subspace in subspaces.items()}
        self.state_dim = sum(int(np.prod(encoded.shape)) for _, encoded, _ in self._parts.values())
        stacked = {key: history_space(encoded, history_length, axis) for key, (_, encoded, axis) in self._parts.items()}
        observation_space = spaces.Dict(cast(dict[str, spaces.Space], stacked)) if None not in stacked else stacked[None]
        super().__init__(venv, observation_space=observation_space)
        self.histories = {key: Histories(np.zeros((venv.num_envs, history_length, *encoded.shape), dtype=encoded.dtype),
                                         axis) for key, (_, encoded, axis) in self._parts.items()}

    def encode(self, states: Any, key: str | None = None) -> np.ndarray:
        """A batch of the env's states (of ``key``'s in a Dict) as the arrays the history holds (:func:`encode_states`)."""
        return encode_states(states, self._parts[key][0])

    def _split(self, observations: Any) -> dict[str | None, np.ndarray]:
        return {None: observations} if None in self._parts else observations

    def _joined(self, parts: dict[str | None, np.ndarray]) -> Any:
        return parts[None] if None in self._parts else parts

    def reset(self) -> Any:
        states = self._split(self.venv.reset())
        self.histories = {key: Histories.started(self.encode(states[key], key), self.history_length,
                                                 self.histories[key].array.dtype, self._parts[key][2])
                          for key in self._parts}
        return self._joined({key: histories.flat() for key, histories in self.histories.items()})

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, dones, infos = self.venv.step_wait()
        states = {key: self.encode(part, key) for key, part in self._split(observations).items()}
        for key, histories in self.histories.items():
            histories.push(states[key])
        for i in np.flatnonzero(dones) if dones.any() else ():  # rare: no index array on the other steps
            # states[i] already belongs to the next episode: build the terminal history
            # from the old one and the terminal state, then restart padded (B3).
            terminal_state = infos[i].get("terminal_observation")
            if terminal_state is not None:
                terminal_states = self._split(terminal_state)
                terminal = {}
                for key, histories in self.histories.items():
                    history = histories.array[i : i + 1].copy()
                    history[0, -1] = self.encode(np.asarray(terminal_states[key])[None], key)[0]
                    terminal[key] = histories.laid_out(history)[0]
                infos[i]["terminal_observation"] = self._joined(terminal)
            for key, histories in self.histories.items():
                histories.restart(states[key], i)
        return self._joined({key: histories.flat() for key, histories in self.histories.items()}), rewards, dones, infos


def frame_stack_problems(venv: VecEnv, history_length: int) -> list[Problem]:
    """An env that stacks frames already (``VecFrameStack``) is the history of length 1 (B1), not stacked twice."""
    frame_stack = find_vec_wrapper(venv, VecFrameStack)
    if frame_stack is None or history_length == 1:
        return []
    n_stack = frame_stack.stacked_obs.n_stack
    return [Problem(
        f"the env stacks {n_stack} frames already (VecFrameStack), and a history of {history_length} on top "
        f"would stack {history_length} x {n_stack}: pass history_length=1 (BlogDQN then takes the stacked "
        "frames as its history, B1), or drop the VecFrameStack (BlogDQN stacks the history itself; in an RL Zoo "
        "config: drop 'frame_stack')."
    )]


def holds_states(observation: Any, state_space: spaces.Space | None, history_length: int) -> bool:
    """Whether ``observation`` is one state or a batch of states of the unwrapped env (``state_space``), not histories."""
    if state_space is None or history_length == 1:
        return False
    if isinstance(state_space, spaces.Dict):
        if not isinstance(observation, dict) or set(observation) != set(state_space.spaces):
            return False
        return all(holds_states(observation[key], subspace, history_length) for key, subspace in state_space.spaces.items())
    if isinstance(observation, dict):
        return False
    if not isinstance(state_space, spaces.Box) and np.asarray(observation).dtype.kind == "f":
        return False  # encoded histories are floats, Discrete-like states integers
    shape = np.shape(observation)
    return shape in (state_space.shape, shape[:1] + state_space.shape) or untransposed(observation, state_space) is not None


def untransposed(observation: Any, state_space: spaces.Space) -> np.ndarray | None:
    """
    A channels-last image state (or batch) of the unwrapped env whose VecEnv ``VecTransposeImage``
    turned channels-first (SB3 does for ``CnnPolicy``), transposed as it would have been; else None.
    """
    if not is_image_state(state_space) or not isinstance(observation, np.ndarray):
        return None
    channels, height, width = cast(tuple[int, int, int], state_space.shape)
    if observation.shape[-3:] != (height, width, channels) or observation.shape[-3:] == state_space.shape:
        return None
    return np.moveaxis(observation, -1, -3)


def continued_histories(state: tuple[np.ndarray, ...] | None, observation: Any, episode_start: np.ndarray | None,
                        state_space: spaces.Space, observation_space: spaces.Space,
                        history_length: int) -> tuple[Any, tuple[np.ndarray, ...], bool]:
    """
    For ``BlogDQN.predict`` on the unwrapped env's states (one, or a batch): the histories to act
    on, laid out as :class:`VecHistory` lays them out; the ``state`` that carries them to the next
    call (:meth:`Histories.continued`, one array per key of a Dict space); whether ``observation``
    was a batch.
    """
    dict_space = isinstance(state_space, spaces.Dict)
    subspaces: dict[Any, spaces.Space] = cast(spaces.Dict, state_space).spaces if dict_space else {None: state_space}
    history_spaces: dict[Any, spaces.Space] = (cast(spaces.Dict, observation_space).spaces if dict_space
                                               else {None: observation_space})
    parts = observation if dict_space else {None: observation}
    laid_out, arrays = {}, []
    for n, (key, subspace) in enumerate(subspaces.items()):
        raw = np.asarray(parts[key])
        transposed = untransposed(raw, subspace)
        raw = raw if transposed is None else transposed
        states = encode_states(raw.reshape(-1, *(subspace.shape or ())), subspace)
        histories = Histories.continued(None if state is None else (state[n],), states, episode_start, history_length,
                                        cast(np.dtype, history_spaces[key].dtype), state_channel_axis(subspace))
        laid_out[key], vectorized = histories.flat(), raw.shape != subspace.shape
        arrays.append(histories.array)
    return (laid_out if dict_space else laid_out[None]), tuple(arrays), vectorized


def encode_states(states: np.ndarray, state_space: spaces.Space) -> np.ndarray:
    """
    A batch of states as the arrays SB3's DQN feeds its network, one row each: Box states
    (vectors, images) unchanged, the others encoded by SB3's own ``preprocess_obs`` (one-hot, floats).
    """
    if isinstance(state_space, spaces.Box):
        return states
    return cast(th.Tensor, preprocess_obs(th.as_tensor(states), state_space)).reshape(len(states), -1).numpy()


def encoded_space(observation_space: spaces.Space) -> spaces.Box:
    """The Box of the arrays SB3's ``preprocess_obs`` makes of ``observation_space``'s (non-Dict) states."""
    if isinstance(observation_space, spaces.Box):
        return observation_space
    size = get_flattened_obs_dim(observation_space)
    return spaces.Box(low=0.0, high=1.0, shape=(size,), dtype=np.float32)


def env_history(vec_env: VecEnv) -> VecHistory | None:
    """``vec_env``'s :class:`VecHistory`, or None when it has none."""
    return find_vec_wrapper(vec_env, VecHistory)


class VecStandardScaler(VecEnvWrapper):
    """
    The blog's StandardScaler (B4) for any SB3 algorithm: fitted once, then frozen.

    At construction it resets ``venv`` and plays uniformly random actions until it has
    ``n_fit_samples`` observations (or takes the given ``observations`` instead), fits the
    per-feature mean and population standard deviation on them (a standard deviation below
    ``10 * float64 eps`` becomes 1, exactly as BlogDQN's ``StandardScalerExtractor``: both
    call ``common.scaling``), and from then on returns every observation as
    ``(x - mean) / scale``: those of ``reset``, ``step`` and the ``terminal_observation``
    of ``infos``. The statistics never change again, so an off-policy replay buffer holds
    observations standardized one way (``VecNormalize``'s running statistics keep moving).

    Fitting happens in the constructor, not at the first ``reset()``, so the wrapper has its
    statistics (to ``save``, or to give an evaluation env) as soon as it exists. The fitting
    play is not part of anyone's episode: it is never returned, the wrapper must be reset
    before it is stepped (SB3 algorithms reset the env when ``learn()`` starts), and that
    reset starts fresh episodes. Its actions come from a copy of the action space, so the
    play follows the env's seeding without drawing from the agent's action-space generator.
    The fitting episodes do pass through ``Monitor`` (its CSV lists them, as any warm-up).

    Save and load the statistics as with ``VecNormalize``: ``scaler.save(path)`` and
    ``VecStandardScaler.load(path, venv)``; the file is JSON, so loading it runs nothing. It
    refuses to stack with ``VecNormalize`` in either order, or on another ``VecStandardScaler``
    (two normalizations of one input), and BlogDQN refuses it (it has its own scaler, B4).

    :param venv: the vectorized env, with a ``Box`` observation space (standardized per element)
    :param n_fit_samples: observations to fit on (the blog: 32 histories, its warm-up's,
        B6); 0 builds an unfitted wrapper, to be fitted with :meth:`fit` or replaced by :meth:`load`
    :param skip_episode_start: observations at the start of every episode that are played
        through but not fitted on. Over a ``VecHistory`` of length ``h`` the blog uses
        ``h - 1``: its warm-up stores no padded history (B2, B6). Episodes too short to get past
        it end the play with an error naming their lengths, not in an endless loop
    :param observations: fit on these (one observation per row) instead of playing
    :param from_bounds: not the blog's: features with finite observation-space bounds take
        the statistics of the bounds, mapping ``[low, high]`` onto [-1, 1]; the others are
        fitted on the observations (``common.scaling.fit_standard_scaler``, as BlogDQN's
        ``scaler_from_bounds``)
    """

    observation_space: spaces.Box

    def __init__(
        self,
        venv: VecEnv,
        n_fit_samples: int = 32,
        skip_episode_start: int = 0,
        observations: np.ndarray | None = None,
        from_bounds: bool = False,
    ) -> None:
        problems = self._stacking_problems(venv)
        for name, value in (("n_fit_samples", n_fit_samples), ("skip_episode_start", skip_episode_start)):
            if not is_integer(value) or value < 0:
                problems.append(Problem(f"{name} must be an integer >= 0, got {value!r}."))
        if not is_bool(from_bounds):
            problems.append(Problem(f"from_bounds must be a bool, got {from_bounds!r}."))
        space = venv.observation_space
        if not isinstance(space, spaces.Box):
            problems.append(Problem(
                f"it standardizes Box observations, got {space}: flatten a Dict space with "
                "gymnasium.wrappers.FlattenObservation first.",
                space=True,
            ))
        elif observations is not None:
            problems += fit_data_problems(observations, space)
        raise_problems(problems, "VecStandardScaler cannot wrap this env")
        assert isinstance(space, spaces.Box)  # else raise_problems raised
        dtype = space.dtype if np.issubdtype(space.dtype, np.floating) else np.float32
        super().__init__(venv, observation_space=spaces.Box(-np.inf, np.inf, space.shape, dtype))
        self.n_fit_samples = n_fit_samples
        self.skip_episode_start = skip_episode_start
        self.from_bounds = from_bounds
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.n_samples_seen = 0
        self._needs_reset = False
        if observations is not None:
            self.fit(observations)
        elif n_fit_samples > 0:
            self.fit(self._random_play())
            self._needs_reset = True  # the venv is mid-episode in the fitting play

    @property
    def fitted(self) -> bool:
        return self.n_samples_seen > 0

    def fit(self, observations: np.ndarray) -> None:
        """Fit on ``observations`` (one per row), once: the statistics are frozen afterwards (B4)."""
        if self.fitted:
            raise SetupError(
                [Problem(f"it was already fitted on {self.n_samples_seen} observations, and B4's scaler is frozen "
                         "once fitted. Build a new VecStandardScaler to fit other data.")],
                "VecStandardScaler cannot fit again",
            )
        space = self.venv.observation_space
        assert isinstance(space, spaces.Box), "checked when the wrapper was built"
        raise_problems(fit_data_problems(observations, space), "VecStandardScaler cannot fit on these observations")
        bounds = (space.low, space.high) if self.from_bounds else None
        self.mean, self.scale = fit_standard_scaler(observations, bounds)
        self.n_samples_seen = len(observations)

    def set_statistics_from(self, source: "VecStandardScaler") -> None:
        """Use ``source``'s statistics, e.g. the training env's for an evaluation env (as ``sync_envs_normalization``)."""
        if not source.fitted or source.mean is None or source.scale is None:
            raise self._not_fitted_error()
        if source.observation_space.shape != self.observation_space.shape:
            raise SetupError(
                [Problem(f"its statistics are for observations of shape {source.observation_space.shape}, this env's "
                         f"have shape {self.observation_space.shape}.")],
                "VecStandardScaler cannot take these statistics",
            )
        self.mean, self.scale, self.n_samples_seen = source.mean.copy(), source.scale.copy(), source.n_samples_seen

    def standardize(self, observations: np.ndarray) -> np.ndarray:
        """``(x - mean) / scale`` in float64, returned in the observation space's dtype (B4)."""
        if not self.fitted or self.mean is None or self.scale is None:
            raise self._not_fitted_error()
        flat = np.asarray(observations, dtype=np.float64).reshape(len(observations), -1)
        return standardize(flat, self.mean, self.scale).reshape(observations.shape).astype(self.observation_space.dtype)

    def reset(self) -> np.ndarray:
        if not self.fitted:  # before resetting the env: nothing has happened yet when this raises
            raise self._not_fitted_error()
        if _called_by_vec_normalize_around(self):
            raise_problems(self._stacking_problems(None, outer=True), "VecStandardScaler cannot be used here")
        observations = self.venv.reset()
        self._needs_reset = False
        return self.standardize(cast(np.ndarray, observations))  # a Box space's: an array

    def step_async(self, actions: np.ndarray) -> None:
        if self._needs_reset:
            raise SetupError(
                [Problem("it has just played random actions to fit its statistics, and that play must not leak into "
                         "an episode: call reset() first (SB3's learn() and evaluate_policy do).")],
                "VecStandardScaler must be reset before it is stepped",
            )
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, dones, infos = self.venv.step_wait()
        for i in np.flatnonzero(dones):
            terminal = infos[i].get("terminal_observation")
            if terminal is not None:  # off-policy buffers store it as the next observation
                infos[i]["terminal_observation"] = self.standardize(terminal[None])[0]
        return self.standardize(cast(np.ndarray, observations)), rewards, dones, infos

    def _random_play(self) -> np.ndarray:
        """Observations of uniformly random play, ``skip_episode_start`` left out per episode, until ``n_fit_samples``."""
        action_space = copy.deepcopy(self.venv.action_space)  # same seeding, without advancing the agent's generator
        observations = self.venv.reset()
        episode_steps = np.zeros(self.num_envs, dtype=np.int64)
        collected: list[np.ndarray] = []
        n_collected = n_steps = n_episodes = longest_episode = 0
        # Episodes that all end within skip_episode_start steps would give nothing, forever.
        max_steps = FIT_PLAY_STEP_FACTOR * (self.n_fit_samples + self.skip_episode_start)
        while n_collected < self.n_fit_samples:
            if n_steps == max_steps:
                raise self._endless_play_error(n_collected, n_steps, n_episodes, longest_episode)
            kept = cast(np.ndarray, observations)[episode_steps >= self.skip_episode_start]
            collected.append(kept)
            n_collected += len(kept)
            observations, _, dones, _ = self.venv.step(np.array([action_space.sample() for _ in range(self.num_envs)]))
            n_steps += 1
            episode_steps += 1
            if dones.any():
                n_episodes += int(dones.sum())
                longest_episode = max(longest_episode, int(episode_steps[dones].max()))
                episode_steps[dones] = 0
        # Like B6's warm-up, stop at exactly n_fit_samples, possibly mid-episode or mid-step.
        return np.concatenate(collected)[: self.n_fit_samples]

    def _endless_play_error(self, n_collected: int, n_steps: int, n_episodes: int, longest_episode: int) -> SetupError:
        return SetupError([Problem(
            f"its fitting play kept {n_collected} of n_fit_samples={self.n_fit_samples} observations in {n_steps} env "
            f"steps: skip_episode_start={self.skip_episode_start} leaves out the first {self.skip_episode_start} "
            f"observations of every episode, and the {n_episodes} episodes that ended lasted at most {longest_episode} "
            "steps. Lower skip_episode_start (over a VecHistory of length h the blog skips h - 1), use an env with "
            "longer episodes, or fit on observations=... instead."
        )], "VecStandardScaler cannot fit its statistics")

    def save(self, save_path: str | os.PathLike) -> None:
        """
        Write the statistics, the settings they were fitted with and the observation shape they fit,
        as JSON (loading it runs nothing), without the env (as ``VecNormalize.save``). The file is
        written atomically: a process killed while saving leaves the previous one whole.
        """
        text = json.dumps(self._statistics(), allow_nan=False)
        write_atomically(save_path, lambda path: path.write_text(text))

    @staticmethod
    def load(load_path: str | os.PathLike, venv: VecEnv, trusted: bool = False) -> "VecStandardScaler":
        """
        The :class:`VecStandardScaler` saved at ``load_path``, around ``venv`` (as ``VecNormalize.load``);
        it needs no refit and no play.

        :param load_path: a file written by :meth:`save`
        :param venv: the env to standardize, wrapped as the one the statistics were fitted on
        :param trusted: also read the pickle files that ``save`` wrote in earlier versions. Reading a
            pickle runs whatever code it holds: pass True only for files you made yourself, and save
            them again to have them as JSON
        :raises SetupError: for a pickle without ``trusted``, a file that is not one of ``save``'s,
            or statistics that do not fit ``venv``
        """
        subject = f"Cannot load a VecStandardScaler from '{load_path}'"
        content = Path(load_path).read_bytes()
        if content[:1] == PICKLE_START:
            statistics = _pickled_statistics(content, load_path, trusted)
        else:
            statistics = _json_statistics(content)
        raise_problems(scaler_statistics_problems(statistics), subject)
        problems = VecStandardScaler._stacking_problems(venv)
        shape = tuple(statistics["observation_shape"])
        if venv.observation_space.shape != shape:
            problems.append(Problem(
                f"the statistics are for observations of shape {shape}, the env gives "
                f"{venv.observation_space.shape}. Wrap the env as it was when the statistics were fitted "
                "(e.g. the same VecHistory)."
            ))
        raise_problems(problems, subject)
        scaler = VecStandardScaler(venv, n_fit_samples=0, skip_episode_start=statistics["skip_episode_start"],
                                   from_bounds=statistics["from_bounds"])
        scaler.n_fit_samples = statistics["n_fit_samples"]
        if statistics["n_samples_seen"] > 0:
            scaler.mean, scaler.scale = (np.array(statistics[name], dtype=np.float64) for name in ("mean", "scale"))
            scaler.n_samples_seen = statistics["n_samples_seen"]
        return scaler

    def _statistics(self) -> dict[str, Any]:
        """What :meth:`save` writes, as JSON values: the statistics, their settings and the shape they fit."""
        return {
            "format": SCALER_FORMAT,
            "version": SCALER_FORMAT_VERSION,
            "observation_shape": [int(size) for size in self.observation_space.shape],
            "mean": None if self.mean is None else np.asarray(self.mean, dtype=np.float64).tolist(),
            "scale": None if self.scale is None else np.asarray(self.scale, dtype=np.float64).tolist(),
            "n_samples_seen": int(self.n_samples_seen),
            "n_fit_samples": int(self.n_fit_samples),
            "skip_episode_start": int(self.skip_episode_start),
            "from_bounds": bool(self.from_bounds),
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["venv"]  # VecEnvs are in general not picklable
        state.pop("class_attributes", None)  # absent in a loaded scaler not yet given its venv
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.venv = None  # type: ignore[assignment]

    @staticmethod
    def _stacking_problems(venv: VecEnv | None, outer: bool = False) -> list[Problem]:
        problems = []
        if not outer and venv is not None and find_vec_wrapper(venv, VecStandardScaler) is not None:
            problems.append(Problem(
                "a VecStandardScaler is inside it already: the observations would be standardized twice, the second "
                "time with statistics of inputs already standardized. Wrap the env in one VecStandardScaler."
            ))
        if outer or (venv is not None and find_vec_wrapper(venv, VecNormalize) is not None):
            where = "wraps" if outer else "is inside"
            problems.append(Problem(
                f"a VecNormalize {where} it: both standardize the observations, so they would normalize twice and "
                "VecNormalize's running statistics would undo the frozen scaler (B4). Use one of them: drop the "
                "VecNormalize (in an RL Zoo config: 'normalize'), or drop the VecStandardScaler."
            ))
        return problems

    def _not_fitted_error(self) -> SetupError:
        return SetupError(
            [Problem("it has no statistics yet: build it with n_fit_samples > 0 (random play) or observations=..., "
                     "call fit(observations), or load saved ones with VecStandardScaler.load(path, venv).")],
            "VecStandardScaler cannot standardize before it is fitted",
        )


def _called_by_vec_normalize_around(scaler: VecStandardScaler) -> bool:
    """
    Is a ``VecNormalize`` that wraps ``scaler`` on the call stack?

    ``VecNormalize(VecStandardScaler(...))`` cannot be refused when it is built (its
    constructor calls nothing of ours), but its ``reset()`` calls ours before any step.
    Only ``reset()`` looks, so stepping pays nothing for this check.
    """
    frame = sys._getframe(1).f_back  # the caller of reset()
    while frame is not None:
        caller = frame.f_locals.get("self")
        if isinstance(caller, VecNormalize) and find_vec_wrapper(caller.venv, VecStandardScaler) is scaler:
            return True
        frame = frame.f_back
    return False


def fit_data_problems(observations: Any, space: spaces.Box) -> list[Problem]:
    """Observations to fit on: at least one row, each one observation of ``space`` (flat or in its shape), all finite."""
    array = np.asarray(observations)
    width = int(np.prod(space.shape))
    if array.dtype.kind not in "biuf" or array.ndim < 2 or len(array) == 0 or array.shape[1:] not in ((width,), space.shape):
        return [Problem(
            f"observations must be an array of numbers, one observation per row, of {width} features (the env's "
            f"observations have shape {space.shape}); got "
            f"{'an array of shape ' + str(array.shape) if array.dtype.kind in 'biuf' else repr(observations)[:200]}."
        )]
    if not np.isfinite(array).all():
        return [Problem("observations hold NaN or inf: the statistics would turn every observation into NaN.")]
    return []


def scaler_statistics_problems(statistics: Any) -> list[Problem]:
    """What is wrong with ``statistics`` as :meth:`VecStandardScaler.save` writes them: format, counts, flags, values."""
    if not isinstance(statistics, dict) or statistics.get("format") != SCALER_FORMAT:
        return [Problem(f"it is not a file of VecStandardScaler.save (no format '{SCALER_FORMAT}').")]
    if statistics.get("version") != SCALER_FORMAT_VERSION:
        return [Problem(f"it is of format version {statistics.get('version')!r}; this sb3-blogdqn reads version "
                        f"{SCALER_FORMAT_VERSION}.")]
    shape = statistics.get("observation_shape")
    if not (isinstance(shape, list) and all(is_integer(size) and size >= 0 for size in shape)):
        return [Problem(f"its observation_shape must be a list of sizes, got {shape!r}.")]
    problems = [Problem(f"its {name} must be an integer >= 0, got {statistics.get(name)!r}.")
                for name in ("n_samples_seen", "n_fit_samples", "skip_episode_start")
                if not (is_integer(statistics.get(name)) and statistics[name] >= 0)]
    if not is_bool(statistics.get("from_bounds")):
        problems.append(Problem(f"its from_bounds must be a bool, got {statistics.get('from_bounds')!r}."))
    fitted = is_integer(statistics.get("n_samples_seen")) and statistics["n_samples_seen"] > 0
    for name in ("mean", "scale"):
        values = statistics.get(name)
        if not fitted:
            if values is not None:
                problems.append(Problem(f"it has a {name} but n_samples_seen={statistics.get('n_samples_seen')!r}."))
        elif not (isinstance(values, list) and len(values) == int(np.prod(shape))
                  and all(is_real(value) and np.isfinite(value) and (name == "mean" or value > 0) for value in values)):
            problems.append(Problem(f"its {name} must be {int(np.prod(shape))} finite numbers"
                                    f"{' > 0' if name == 'scale' else ''}, one per feature of {tuple(shape)}."))
    return problems


def _json_statistics(content: bytes) -> Any:
    """The JSON of a file of :meth:`VecStandardScaler.save`, or None when the file is not JSON."""
    try:
        return json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _pickled_statistics(content: bytes, load_path: str | os.PathLike, trusted: bool) -> dict[str, Any]:
    """The statistics of a pickled VecStandardScaler (the files of earlier versions), read only when ``trusted``."""
    subject = f"Cannot load a VecStandardScaler from '{load_path}'"
    if not trusted:
        raise SetupError([Problem(
            "it is a pickle (the format of VecStandardScaler.save in earlier versions), and reading a pickle runs "
            "whatever code it holds. If you made the file yourself, load it with VecStandardScaler.load(path, venv, "
            "trusted=True) or make_blog_env(..., scaler=path, trusted=True), then save it again to have it as JSON."
        )], subject)
    warnings.warn(
        f"'{load_path}' is a pickle: VecStandardScaler's pickle format is deprecated, as reading one runs whatever "
        "code it holds. Save the scaler again (scaler.save(path)) to have it as JSON.",
        FutureWarning,
        stacklevel=3,
    )
    scaler = pickle.loads(content)
    if not isinstance(scaler, VecStandardScaler):
        raise SetupError([Problem(f"it holds a {type(scaler).__name__}, not a VecStandardScaler.")], subject)
    return scaler._statistics()


def make_blog_env(
    env_id: str,
    n_envs: int = 1,
    history_length: int = BLOG_HISTORY_LENGTH,
    seed: int | None = None,
    env_kwargs: dict[str, Any] | None = None,
    scaler: int | str | os.PathLike | None = None,
    trusted: bool = False,
    **make_vec_env_kwargs: Any,
) -> VecHistory | VecStandardScaler:
    """
    Build the env BlogDQN trains on and is evaluated on: ``n_envs`` copies of ``env_id``,
    each in a ``Monitor``, vectorized by SB3's ``make_vec_env`` and wrapped in a
    :class:`VecHistory`. Pass the result to ``evaluate_policy`` or ``EvalCallback``.

    With ``scaler`` it is the blog's whole input pipeline for *another* SB3 algorithm
    (DQN, QR-DQN, PPO...): the histories (B1) standardized by a :class:`VecStandardScaler`
    frozen after fitting (B4). BlogDQN refuses such an env, it fits its own scaler.

    :param env_id: a registered gymnasium id, e.g. ``"CartPole-v1"``
    :param n_envs: number of parallel envs (each keeps its own history)
    :param history_length: states per history (must match the model's)
    :param seed: seed of the first env (SB3 convention: env ``i`` gets ``seed + i``)
    :param env_kwargs: passed to ``gymnasium.make``
    :param scaler: None for no scaler (BlogDQN's env); an int ``n`` to fit on the ``n``
        full histories of random play, skipping B2's padded ones at episode starts, as the
        blog's warm-up does (the blog: 32); a path to load statistics saved with
        ``VecStandardScaler.save`` (an evaluation env, a loaded model)
    :param trusted: read ``scaler`` also when it is a pickle, the format of earlier versions
        (``VecStandardScaler.load``'s ``trusted``: reading a pickle runs whatever code it holds)
    :param make_vec_env_kwargs: passed to SB3's ``make_vec_env`` (``vec_env_cls``, ``monitor_dir``...)
    """
    check_history_length(history_length)
    venv = make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs, **make_vec_env_kwargs)
    check_discrete_actions(venv.action_space)
    history = VecHistory(venv, history_length)
    if scaler is None:
        return history
    if isinstance(scaler, (str, os.PathLike)):
        return VecStandardScaler.load(scaler, history, trusted=trusted)
    if isinstance(scaler, bool):  # an int subclass: True would silently mean 1 sample
        raise TypeError("scaler takes the number of histories to fit on (the blog: 32) or a saved file's path, not a bool.")
    return VecStandardScaler(history, n_fit_samples=scaler, skip_episode_start=history_length - 1)
