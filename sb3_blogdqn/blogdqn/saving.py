"""
BlogDQN's saved files: written atomically, read once, checked before anything is built from them.

SB3's zip holds the weights as torch files and a JSON ``data`` entry in which every value
JSON cannot hold (spaces, classes, schedules, arrays) is cloudpickled: unpickling it runs
whatever code it holds. :func:`load_model` reads the zip once, without unpickling, and refuses
what the plain values already show wrong (a truncated or corrupted file, another algorithm's,
a part of the agent's state missing, a hyperparameter BlogDQN's constructor would refuse).
Then it turns the cloudpickled entries into objects: by unpickling each once (``trusted=True``,
SB3's way), or by rebuilding them from the env and the plain values (``trusted=False``,
:func:`rebuilt_data`), refusing, naming it, any entry it cannot rebuild. Every refusal is a
:class:`~sb3_blogdqn.common.checks.SetupError` naming the file.
"""

import base64
import dataclasses
import importlib
import inspect
import io
import json
import pathlib
import pickle
import re
import warnings
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.save_util import json_to_data, open_path, recursive_setattr
from stable_baselines3.common.type_aliases import GymEnv, TrainFreq, TrainFrequencyUnit
from stable_baselines3.common.utils import get_device, get_system_info
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.patch_gym import _convert_space

from sb3_blogdqn.blogdqn.checks import argument_problems
from sb3_blogdqn.blogdqn.envs import wrap_blog_env
from sb3_blogdqn.blogdqn.policies import POLICY_ALIASES, BlogDQNPolicy
from sb3_blogdqn.common.checks import (
    Problem,
    SetupError,
    find_vec_wrapper,
    history_length_problems,
    in_range,
    is_bool,
    is_integer,
    raise_problems,
)
from sb3_blogdqn.common.files import write_atomically
from sb3_blogdqn.common.wrappers import VecHistory

# The agent's state beyond the weights: a save lacking one of these would be silently
# re-initialized by SB3's load (it only overwrites the attributes it finds).
SAVED_STATE_KEYS = (
    "history_length",
    "observation_space",
    "action_space",
    "num_timesteps",
    "exploration_rate",
    "_n_exploration_decisions",
    "_warmup_done",
    "_episode_steps",
    "_n_target_updates",
    "_n_calls",
)
SAVED_PARAMS = ("policy", "policy.optimizer")  # the networks with the scaler, and Adam's state
SAVED_COUNTERS = ("num_timesteps", "_n_calls", "_n_updates", "_n_exploration_decisions", "_n_target_updates",
                  "_episode_num", "n_rejected_nonfinite")
SAVED_ARGUMENT_NAMES = {"policy": "policy_class", "stats_window_size": "_stats_window_size"}
"""Constructor arguments saved under another name (SB3's attributes)."""
UNSAVED_ARGUMENTS = ("self", "env", "device", "_init_setup_model")
"""Constructor arguments a zip does not hold: the load's own (``env``, ``device``) and the class's."""
REBUILT_BY_SETUP = ("lr_schedule", "exploration_schedule", "batch_norm_stats", "batch_norm_stats_target")
"""Entries the model's setup builds again from the plain values: an untrusted load drops the saved ones."""
RESET_ON_LOAD = ("_last_obs", "_last_episode_starts", "_last_original_obs", "ep_info_buffer", "ep_success_buffer")
"""The env's position and the episode logs: an untrusted load drops them, ``learn()`` resets the env and starts its logs."""
_CUT_HINT = (
    "A checkpoint written while the process was killed is incomplete: use an earlier one "
    "(sb3_blogdqn.load_checkpoint picks the newest complete checkpoint)."
)
_UNTRUSTED_HINT = (
    "If you trust the file, load it with trusted=True; or pass the entry's object in custom_objects={...}."
)


def describe_path(path: Any) -> str:
    """How an error names a file: its path, or a file object's name."""
    if isinstance(path, (str, pathlib.Path)):
        return f"'{path}'"
    name = getattr(path, "name", None)
    return f"'{name}'" if isinstance(name, str) else repr(path)


# ----------------------------------------------------------------------------- saving


def save_atomically(save: Callable[[Any], None], path: str | pathlib.Path | io.BufferedIOBase, suffix: str) -> None:
    """
    ``save(path)`` (one of SB3's save methods) through :func:`~sb3_blogdqn.common.files.write_atomically`,
    so that a process killed while saving leaves the previous file whole. A path without a suffix
    gets ``suffix``, as SB3 names it; a file object is written as given (it has no name to replace).
    """
    if not isinstance(path, (str, pathlib.Path)):
        save(path)
        return
    path = pathlib.Path(path)
    if path.suffix == "":
        path = pathlib.Path(f"{path}.{suffix}")
    write_atomically(path, save)


# ----------------------------------------------------------------------------- reading


@dataclasses.dataclass
class SavedZip:
    """A BlogDQN zip as read, nothing unpickled: ``data`` is its JSON, cloudpickled entries as SB3 wrote them."""

    where: str
    data: dict[str, Any]
    data_json: str
    params: dict[str, Any]
    pytorch_variables: dict[str, Any] | None

    @property
    def plain(self) -> dict[str, Any]:
        """The entries JSON holds as they are (numbers, strings, lists): those readable without unpickling."""
        return {key: value for key, value in self.data.items() if not is_cloudpickled(value)}


def is_cloudpickled(value: Any) -> bool:
    """Whether a value of SB3's JSON is a cloudpickle (with its type and first attributes written beside it for humans)."""
    return isinstance(value, dict) and ":serialized:" in value


def read_saved_zip(path: Any, device: th.device | str = "auto", print_system_info: bool = False) -> SavedZip:
    """
    Read a BlogDQN zip once, unpickling nothing: the JSON of its data and its weights (``torch.load``
    with ``weights_only=True``, as SB3). Raises ``FileNotFoundError`` for a missing file and
    :class:`SetupError` for one that is truncated or corrupted, or is not a complete BlogDQN save.
    """
    where = describe_path(path)
    file = open_path(path, "r", suffix="zip")  # SB3's: "model" finds "model.zip"
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
            if print_system_info and "system_info.txt" in names:
                print("== SAVED MODEL SYSTEM INFO ==")
                print(archive.read("system_info.txt").decode())
            data_json = archive.read("data").decode() if "data" in names else None
            data = json.loads(data_json) if data_json is not None else None
            tensors = {}
            for name in names:
                if name.endswith(".pth"):
                    with archive.open(name) as tensor_file:
                        tensors[name.removesuffix(".pth")] = th.load(tensor_file, map_location=get_device(device),
                                                                     weights_only=True)
    except Exception as error:  # zipfile, zlib, torch and JSON all fail differently on a damaged file
        raise SetupError([Problem(f"the file is truncated or corrupted ({type(error).__name__}: {error}). {_CUT_HINT}")],
                         f"Cannot load a BlogDQN model from {where}") from error
    finally:
        if isinstance(path, (str, pathlib.Path)):
            file.close()
    pytorch_variables = tensors.pop("pytorch_variables", None)
    raise_problems(saved_zip_problems(data, tensors, pytorch_variables), f"Cannot load a BlogDQN model from {where}")
    return SavedZip(where, data, data_json, tensors, pytorch_variables)  # type: ignore[arg-type]


def saved_zip_problems(data: Any, params: dict[str, Any], pytorch_variables: Any) -> list[Problem]:
    """Is this the zip of a complete BlogDQN save? Decided on its plain JSON and its weights, nothing unpickled."""
    if not isinstance(data, dict):
        # A cut file often still opens: the zips torch writes inside it end like a whole archive.
        return [Problem(f"the file is truncated or corrupted (no 'data' entry, or not written by SB3's save()). {_CUT_HINT}")]
    if "history_length" not in data:
        saved_by = described_class(data.get("policy_class"))
        return [Problem(
            f"it was saved by another algorithm (with the policy {saved_by}, no history_length), not by BlogDQN. Load "
            "it with the class that saved it (e.g. stable_baselines3.DQN.load for SB3's DQN); BlogDQN will not "
            "reuse its weights, as its network, scaler and optimizer differ."
        )]
    problems = []
    missing = [key for key in SAVED_STATE_KEYS if key not in data]
    if missing:
        problems.append(Problem(
            f"the saved agent state lacks {missing}: loading would silently reset them. It was saved by an "
            "incompatible version of sb3-blogdqn; retrain or load it with that version."
        ))
    missing_params = [name for name in SAVED_PARAMS if name not in params]
    if missing_params:
        problems.append(Problem(
            f"the zip lacks {[name + '.pth' for name in missing_params]} (the networks with their scaler, and "
            "the Adam state): loading would silently re-initialize them."
        ))
    unknown = sorted(set(params) - set(SAVED_PARAMS)) + sorted(pytorch_variables or {})
    if unknown:  # SB3's load would set them as attributes of the model, by name
        problems.append(Problem(f"the zip holds tensors BlogDQN does not save: {unknown}."))
    n_seen = params.get("policy", {}).get("q_net.features_extractor.n_samples_seen")
    fits_scaler = data.get("standardize_inputs", True)  # zips from before the switch always fitted it
    if data.get("_warmup_done") is True and fits_scaler and n_seen is not None and float(n_seen) == 0:
        problems.append(Problem("its warm-up is done but its StandardScaler was never fitted (B4): the file is inconsistent."))
    return problems


def described_class(entry: Any) -> str:
    """
    A cloudpickled class as SB3's JSON describes it beside the pickle, for humans: its module, and its
    name as its methods' reprs give it (``<function DQNPolicy.__init__ at ...>``).
    """
    if not is_cloudpickled(entry):
        return "none readable"
    names = {match.group(1) for value in entry.values()
             if isinstance(value, str) and (match := re.fullmatch(r"<function ([\w.]+)\.\w+ at 0x[0-9a-f]+>", value))}
    module = entry.get("__module__")
    return f"{module}.{names.pop()}" if len(names) == 1 else f"a class of the module {module}"


# ----------------------------------------------------------------------------- checking


def saved_value_problems(cls: type, values: dict[str, Any]) -> list[Problem]:
    """
    The hyperparameters among ``values`` (a zip's data, by attribute) checked as BlogDQN's constructor
    checks its arguments, and the agent's counters and ε. An argument absent from ``values`` takes
    its default (a zip of an older version, or an entry not unpickled yet: checked once it is).
    """
    parameters = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    arguments = {name: values.get(SAVED_ARGUMENT_NAMES.get(name, name), parameter.default)
                 for name, parameter in parameters.items() if name not in UNSAVED_ARGUMENTS}
    arguments.update(env=None, device="auto")
    arguments["policy"] = BlogDQNPolicy  # the saved class is checked on its own, once unpickled: policy_class_problems
    problems = argument_problems(arguments) + history_length_problems(arguments["history_length"])
    problems += [Problem(f"its {name} must be an integer >= 0, got {values[name]!r}.")
                 for name in SAVED_COUNTERS if name in values and not (is_integer(values[name]) and values[name] >= 0)]
    if "exploration_rate" in values and not in_range(values["exploration_rate"], 0.0, 1.0):
        problems.append(Problem(f"its exploration_rate (ε, B8) must be in [0, 1], got {values['exploration_rate']!r}."))
    if "_warmup_done" in values and not is_bool(values["_warmup_done"]):
        problems.append(Problem(f"its _warmup_done must be a bool, got {values['_warmup_done']!r}."))
    return problems


def policy_class_problems(policy_class: Any) -> list[Problem]:
    """The unpickled policy class: BlogDQN's own, or a subclass (its scaler, B4; its target, B16)."""
    if isinstance(policy_class, type) and issubclass(policy_class, BlogDQNPolicy):
        return []
    if not isinstance(policy_class, type):
        return [Problem(
            "its policy class could not be unpickled (see the warning above); pass "
            "custom_objects={'policy_class': sb3_blogdqn.BlogDQNPolicy} if it was BlogDQN's own."
        )]
    return [Problem(f"its policy class {policy_class.__module__}.{policy_class.__qualname__} is not a BlogDQNPolicy.")]


def wrapped_env(env: GymEnv, data: dict[str, Any], where: str) -> VecEnv:
    """``env`` wrapped in the saved history, as the model needs it; its own history's length if it has one (checked later)."""
    history = find_vec_wrapper(env, VecHistory) if isinstance(env, VecEnv) else None
    history_length = data["history_length"] if history is None else history.history_length
    try:
        return wrap_blog_env(env, history_length, data.get("verbose", 0))
    except SetupError as error:
        raise_problems(error.problems, f"Cannot load the BlogDQN model {where} on this env")
        raise


def saved_env_problems(data: dict[str, Any], vec_env: VecEnv) -> list[Problem]:
    """Does ``vec_env`` (ending in a VecHistory, see ``wrap_blog_env``) fit the model saved in ``data``?"""
    problems = []
    saved_history = int(data["history_length"])
    saved_space = data["observation_space"]
    saved_state_dim = spaces.flatdim(saved_space) // saved_history  # a Dict's: its keys' sum, as VecHistory.state_dim
    history = find_vec_wrapper(vec_env, VecHistory)
    if history is not None and history.history_length != saved_history:
        problems.append(Problem(
            f"history length mismatch: the model was trained on histories of {saved_history} states, the env's "
            f"VecHistory holds {history.history_length}. Build the env with make_blog_env(..., "
            f"history_length={saved_history}) or pass the unwrapped env."
        ))
    state_dim = history.state_dim if history is not None else None
    if state_dim is not None and state_dim != saved_state_dim:
        problems.append(Problem(
            f"observation size mismatch: the model was trained on states of size {saved_state_dim} "
            f"(observations {saved_space.shape} = {saved_history} x {saved_state_dim}), the env's states have size "
            f"{state_dim} (observations {vec_env.observation_space.shape}). Use the env the model was trained on.",
            space=True,
        ))
    elif not problems and vec_env.observation_space != saved_space:
        problems.append(Problem(
            f"observation space mismatch: the model was trained on {saved_space}, the env gives "
            f"{vec_env.observation_space}. Use the env the model was trained on.",
            space=True,
        ))
    if vec_env.action_space != data["action_space"]:
        problems.append(Problem(
            f"action space mismatch: the model was trained with {data['action_space']}, the env has "
            f"{vec_env.action_space}. Use the env the model was trained on.",
            space=True,
        ))
    return problems


# ----------------------------------------------------------------------------- the entries as objects


def unpickled_data(saved: SavedZip, custom_objects: dict[str, Any] | None) -> dict[str, Any]:
    """The data with its cloudpickled entries unpickled, each once (SB3's ``json_to_data``): runs the code they hold."""
    try:
        data = json_to_data(saved.data_json, custom_objects=custom_objects)
    except Exception as error:  # an entry's class is missing here, or its pickle is damaged
        raise SetupError([Problem(f"an entry of its data cannot be unpickled ({type(error).__name__}: {error}). "
                                  "Pass it in custom_objects={...} to replace it.")],
                         f"Cannot load a BlogDQN model from {saved.where}") from error
    for key in ("observation_space", "action_space"):  # gym spaces of old saves to gymnasium's, as SB3's load
        if key in data:
            data[key] = _convert_space(data[key])
    return data


def rebuilt_data(saved: SavedZip, custom_objects: dict[str, Any] | None, env: VecEnv | None) -> dict[str, Any]:
    """
    The data with its cloudpickled entries rebuilt without unpickling: the spaces from ``env``
    (checked against the shapes the zip states), the policy class BlogDQN's own, the schedules from
    their plain numbers, ``train_freq`` by an unpickler that builds nothing but a ``TrainFreq``; the
    env's position and the episode logs dropped (``learn()`` resets the env). ``custom_objects``
    replace entries, as in SB3. Raises a :class:`SetupError` naming every entry it cannot rebuild.
    """
    subject = f"Cannot load the BlogDQN model {saved.where} without trusting it (trusted=False)"
    if env is None:
        raise SetupError([Problem("trusted=False takes the observation and action spaces from the env: pass env=...")],
                         subject)
    data, problems = {}, []
    for key, value in saved.data.items():
        if custom_objects is not None and key in custom_objects:
            data[key] = custom_objects[key]
        elif not is_cloudpickled(value):
            data[key] = value
        elif key not in REBUILT_BY_SETUP:
            try:
                data[key] = rebuilt_entry(key, value, env)
            except _CannotRebuild as reason:
                problems.append(Problem(f"the entry '{key}' ({value.get(':type:')}) {reason} {_UNTRUSTED_HINT}"))
    raise_problems(problems, subject)
    return data


class _CannotRebuild(Exception):
    """Why an untrusted load cannot rebuild a cloudpickled entry."""


def rebuilt_entry(key: str, entry: dict[str, Any], env: VecEnv) -> Any:
    """One cloudpickled entry of a BlogDQN zip, rebuilt from ``env`` and the attributes SB3 wrote beside the pickle."""
    if key in RESET_ON_LOAD:
        return None
    if key == "_episode_steps":
        return np.zeros(env.num_envs, dtype=np.int64)
    if key == "state_space":
        return find_vec_wrapper(env, VecHistory).state_space  # type: ignore[union-attr]
    if key == "policy_class":
        classes: list[type[BlogDQNPolicy]] = [BlogDQNPolicy, *POLICY_ALIASES.values()]
        policies = {f"{policy.__module__}.{policy.__qualname__}": policy for policy in classes}
        if described_class(entry) not in policies:
            raise _CannotRebuild(f"is the policy {described_class(entry)}, and only BlogDQN's own "
                                 f"({', '.join(policies)}) are rebuilt.")
        return policies[described_class(entry)]
    if key == "observation_space" and entry.get(":type:") == str(spaces.Dict):
        return rebuilt_dict(entry, env.observation_space)
    if key == "observation_space":
        return rebuilt_box(entry, env.observation_space)
    if key == "action_space" and entry.get(":type:") == str(spaces.Discrete):
        try:
            return spaces.Discrete(int(entry["n"]), start=int(entry["start"]))
        except (KeyError, TypeError, ValueError) as error:
            raise _CannotRebuild(f"does not state its n and start ({error}).") from None
    if key == "train_freq":
        return _TrainFreqUnpickler(io.BytesIO(_pickle_bytes(entry))).load()
    if key == "learning_rate":
        return rebuilt_schedule(entry)
    raise _CannotRebuild("cannot be rebuilt without unpickling it.")


def rebuilt_box(entry: dict[str, Any], env_space: spaces.Space) -> spaces.Box:
    """
    The saved Box as its stated shape and dtype, with the env's bounds: SB3 writes the bounds only
    as printed text, rounded. Another shape or dtype gives an unbounded Box, which the env check reports.
    """
    try:
        shape, dtype = tuple(int(size) for size in entry["_shape"]), np.dtype(entry["dtype"])
    except (KeyError, TypeError, ValueError) as error:
        raise _CannotRebuild(f"does not state its shape and dtype ({error}).") from None
    if entry.get(":type:") != str(spaces.Box) or dtype.kind not in "fub":
        raise _CannotRebuild("is not a Box of floats, unsigned integers or booleans, which BlogDQN's histories are.")
    if isinstance(env_space, spaces.Box) and env_space.shape == shape and env_space.dtype == dtype:
        return env_space
    return spaces.Box(-np.inf, np.inf, shape, dtype)


def rebuilt_dict(entry: dict[str, Any], env_space: spaces.Space) -> spaces.Dict:
    """The env's Dict space when it prints as the saved one (SB3 writes a Dict's subspaces only as text)."""
    if not isinstance(env_space, spaces.Dict) or str(entry.get("spaces")) != str(dict(env_space.spaces)):
        raise _CannotRebuild(f"is the Dict {entry.get('spaces')}, and the env's observations are {env_space}: "
                             "pass the env the model was trained on.")
    return env_space


SCHEDULES = {
    "<class 'stable_baselines3.common.utils.ConstantSchedule'>": ("stable_baselines3.common.utils", ("val",)),
    "<class 'stable_baselines3.common.utils.LinearSchedule'>": ("stable_baselines3.common.utils",
                                                               ("start", "end", "end_fraction")),
    "<class 'rl_zoo3.utils.SimpleLinearSchedule'>": ("rl_zoo3.utils", ("initial_value",)),  # the Zoo's "lin_"
}
"""Learning-rate schedules an untrusted load rebuilds: their module, and the numbers that make them."""


def rebuilt_schedule(entry: dict[str, Any]) -> Any:
    """A learning-rate schedule of :data:`SCHEDULES`, from the numbers SB3 wrote beside its pickle."""
    known = SCHEDULES.get(entry.get(":type:"))  # type: ignore[arg-type]
    if known is None:
        raise _CannotRebuild(f"is a schedule rebuilt only when it is one of {[name[8:-2] for name in SCHEDULES]}.")
    module, fields = known
    values = [entry.get(field) for field in fields]
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
        raise _CannotRebuild(f"does not state its {fields} as numbers.")
    try:
        schedule_class = getattr(importlib.import_module(module), entry[":type:"][8:-2].rsplit(".", 1)[1])
    except ImportError as error:  # rl_zoo3 is an optional dependency
        raise _CannotRebuild(f"needs {module}, which is not installed ({error}).") from None
    return schedule_class(*values)


class _TrainFreqUnpickler(pickle.Unpickler):
    """
    Unpickles SB3's ``TrainFreq`` and nothing else, as Python's documentation restricts globals:
    the pickle can only name ``TrainFreq`` and its unit, so it can call nothing else.
    """

    def find_class(self, module: str, name: str) -> Any:
        if module == TrainFreq.__module__ and name in (TrainFreq.__name__, TrainFrequencyUnit.__name__):
            return TrainFreq if name == TrainFreq.__name__ else TrainFrequencyUnit
        raise _CannotRebuild(f"names {module}.{name}, where only a TrainFreq is rebuilt.")

    def load(self) -> TrainFreq:
        try:
            train_freq = super().load()
        except _CannotRebuild:
            raise
        except Exception as error:  # a damaged or hostile pickle fails in any of pickle's ways
            raise _CannotRebuild(f"is not a readable TrainFreq ({type(error).__name__}: {error}).") from None
        if not isinstance(train_freq, TrainFreq):
            raise _CannotRebuild(f"holds a {type(train_freq).__name__}, not a TrainFreq.")
        return train_freq


def _pickle_bytes(entry: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(entry[":serialized:"].encode())
    except (AttributeError, ValueError) as error:
        raise _CannotRebuild(f"is not base64 ({error}).") from None


def set_saved_parameters(model: Any, params: dict[str, Any], device: th.device | str, subject: str) -> None:
    """
    SB3's ``set_parameters``, with the repair SB3's ``load`` makes to DQN zips of SB3 < 2.4 (whose
    optimizer held the target network's parameters too), and a :class:`SetupError` when the
    weights do not fit the network the zip describes.
    """
    try:
        try:
            model.set_parameters(params, exact_match=True, device=device)
        except ValueError:
            saved = params["policy.optimizer"]["param_groups"][0]["params"]
            if len(saved) != 2 * len(model.policy.optimizer.param_groups[0]["params"]):
                raise
            params["policy.optimizer"]["param_groups"][0]["params"] = saved[: len(saved) // 2]
            model.set_parameters(params, exact_match=True, device=device)
            warnings.warn(
                "The zip's optimizer state holds the target network's parameters too, as DQN's of SB3 < 2.4.0 did: "
                "they are dropped (see https://github.com/DLR-RM/stable-baselines3/pull/1963). Save the model again "
                "to store it without them.",
                stacklevel=3,
            )
    except (RuntimeError, ValueError, KeyError, IndexError, TypeError) as error:  # torch's load_state_dict and the repair
        raise SetupError([Problem(f"its parameters do not fit the network it describes: {error}")], subject) from error


def replaced_attribute_problems(model: Any, data: dict[str, Any]) -> list[Problem]:
    """Entries that would replace what a save never holds: a method of the model, or a part it builds (networks, env)."""
    never_saved = set(model._excluded_save_params())
    return [Problem(f"the entry '{key}' would replace {'a method' if key not in never_saved else 'a part'} of the model, "
                    "which a save never holds.")
            for key in data if key in never_saved or callable(getattr(type(model), key, None))]


# ----------------------------------------------------------------------------- loading


def load_model(
    cls: type,
    path: str | pathlib.Path | io.BufferedIOBase,
    env: GymEnv | None,
    device: th.device | str,
    custom_objects: dict[str, Any] | None,
    print_system_info: bool,
    force_reset: bool,
    trusted: bool,
    kwargs: dict[str, Any],
) -> Any:
    """
    SB3's ``BaseAlgorithm.load`` for BlogDQN (see ``BlogDQN.load``): the zip read once, what its plain
    values show wrong refused before anything is unpickled, the entries unpickled once (``trusted``)
    or rebuilt (not), the values and the env checked, then the model built as SB3 builds it.
    """
    if print_system_info:
        print("== CURRENT SYSTEM INFO ==")
        get_system_info()
    saved = read_saved_zip(path, device, print_system_info)
    subject = f"Cannot load a BlogDQN model from {saved.where}"
    raise_problems(saved_value_problems(cls, {**saved.plain, **kwargs}), subject)
    vec_env = None if env is None else wrapped_env(env, saved.data, saved.where)
    data = unpickled_data(saved, custom_objects) if trusted else rebuilt_data(saved, custom_objects, vec_env)
    raise_problems(policy_class_problems(data.get("policy_class")) + saved_value_problems(cls, {**data, **kwargs}), subject)
    if vec_env is not None:
        raise_problems(saved_env_problems(data, vec_env), f"Cannot load the BlogDQN model {saved.where} on this env")
    if isinstance(data.get("policy_kwargs"), dict):
        data["policy_kwargs"].pop("device", None)  # the load's device, not the save's
    if "policy_kwargs" in kwargs and kwargs["policy_kwargs"] != data.get("policy_kwargs"):
        raise ValueError(f"The specified policy kwargs do not equal the stored policy kwargs. Stored kwargs: "
                         f"{data.get('policy_kwargs')}, specified kwargs: {kwargs['policy_kwargs']}")
    if vec_env is not None:
        if force_reset:  # SB3's: the env given starts new episodes at the next learn()
            data["_last_obs"] = None
        data["n_envs"] = vec_env.num_envs
    model = cls(policy=data["policy_class"], env=vec_env, device=device, _init_setup_model=False)
    if not trusted:
        raise_problems(replaced_attribute_problems(model, data), subject)
    model.__dict__.update(data)
    model.__dict__.update(kwargs)
    model._setup_model()
    set_saved_parameters(model, saved.params, device, subject)
    for name, value in (saved.pytorch_variables or {}).items():
        if value is not None:
            recursive_setattr(model, f"{name}.data", value.data)
    return model

