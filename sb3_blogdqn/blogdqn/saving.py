"""
The checks on BlogDQN's saved files: what SB3's ``load`` would load wrongly or partly.

A truncated or corrupted zip, a zip saved by another algorithm or missing part of the
agent's state (which SB3's ``load`` would silently re-initialize), and an env that does
not fit the saved model. Each is reported as a :class:`~sb3_blogdqn.common.checks.SetupError`
naming the file.
"""

import pathlib
import zipfile
from typing import Any

import numpy as np
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.common.vec_env import VecEnv

from sb3_blogdqn.blogdqn.envs import wrap_blog_env
from sb3_blogdqn.blogdqn.policies import BlogDQNPolicy
from sb3_blogdqn.common.checks import Problem, SetupError, find_vec_wrapper, raise_problems
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
_CUT_HINT = (
    "A checkpoint written while the process was killed is incomplete: use an earlier one "
    "(sb3_blogdqn.load_checkpoint picks the newest complete checkpoint)."
)




def describe_path(path: Any) -> str:
    """How an error names a file: its path, or a file object's name."""
    if isinstance(path, (str, pathlib.Path)):
        return f"'{path}'"
    name = getattr(path, "name", None)
    return f"'{name}'" if isinstance(name, str) else repr(path)


def read_saved_model(path: Any, custom_objects: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """
    Read a BlogDQN zip (data and parameters) and check it is a complete BlogDQN save.

    Raises ``FileNotFoundError`` for a missing file and :class:`SetupError` (naming the
    file) for a truncated or corrupted zip, a zip saved by another algorithm, or one
    lacking part of the agent's state, which SB3's ``load`` would silently re-initialize.
    """
    where = describe_path(path)
    try:
        data, params, _ = load_from_zip_file(path, load_data=True, custom_objects=custom_objects, device="cpu")
    except FileNotFoundError:
        raise
    except Exception as error:  # zipfile, zlib, torch and JSON all fail differently on a damaged file
        cause = error.__cause__ if isinstance(error.__cause__, zipfile.BadZipFile) else error
        raise SetupError([Problem(f"the file is truncated or corrupted ({type(cause).__name__}: {cause}). {_CUT_HINT}")],
                         f"Cannot load a BlogDQN model from {where}") from error
    finally:
        if hasattr(path, "seek"):
            path.seek(0)
    raise_problems(saved_model_problems(data, params), f"Cannot load a BlogDQN model from {where}")
    return data, params  # type: ignore[return-value]


def saved_model_problems(data: dict[str, Any] | None, params: dict[str, Any]) -> list[Problem]:
    if data is None:
        # A cut file often still opens: the zips torch writes inside it end like a whole archive.
        return [Problem(f"the file is truncated or corrupted (no 'data' entry, or not written by SB3's save()). {_CUT_HINT}")]
    policy_class = data.get("policy_class")
    if "history_length" in data and not isinstance(policy_class, type):
        return [Problem(
            "its policy class could not be deserialized (see the warning above); pass "
            "custom_objects={'policy_class': sb3_blogdqn.BlogDQNPolicy} if it was BlogDQN's own."
        )]
    if not (isinstance(policy_class, type) and issubclass(policy_class, BlogDQNPolicy)) or "history_length" not in data:
        saved_by = (f"with the policy {policy_class.__module__}.{policy_class.__qualname__}"
                    if isinstance(policy_class, type) else "without a readable policy class")
        return [Problem(
            f"it was saved by another algorithm ({saved_by}, no history_length), not by BlogDQN. Load it "
            "with the class that saved it (e.g. stable_baselines3.DQN.load for SB3's DQN); BlogDQN will not "
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
    n_seen = params.get("policy", {}).get("q_net.features_extractor.n_samples_seen")
    fits_scaler = data.get("standardize_inputs", True)  # zips from before the switch always fitted it
    if data.get("_warmup_done") and fits_scaler and n_seen is not None and float(n_seen) == 0:
        problems.append(Problem("its warm-up is done but its StandardScaler was never fitted (B4): the file is inconsistent."))
    return problems


def checked_load_env(path: Any, env: GymEnv | None, custom_objects: dict[str, Any] | None) -> VecEnv | None:
    """
    Check the zip at ``path`` is a complete BlogDQN save (:func:`read_saved_model`) and that ``env``
    fits it; return ``env`` wrapped in the saved history, as SB3's ``load`` then needs it (it checks
    the spaces before it builds the model). Raises a :class:`SetupError` naming the file.
    """
    data, _ = read_saved_model(path, custom_objects)
    if env is None:
        return None
    # The env's own history, if it has one, so that a different length is reported, not hidden.
    history = find_vec_wrapper(env, VecHistory) if isinstance(env, VecEnv) else None
    history_length = data["history_length"] if history is None else history.history_length
    try:
        env = wrap_blog_env(env, history_length, data.get("verbose", 0))
        problems = saved_env_problems(data, env)
    except SetupError as error:
        problems = error.problems
    raise_problems(problems, f"Cannot load the BlogDQN model {describe_path(path)} on this env")
    return env


def saved_env_problems(data: dict[str, Any], vec_env: VecEnv) -> list[Problem]:
    """Does ``vec_env`` (ending in a VecHistory, see ``wrap_blog_env``) fit the model saved in ``data``?"""
    problems = []
    saved_history = int(data["history_length"])
    saved_space = data["observation_space"]
    saved_state_dim = int(np.prod(saved_space.shape)) // saved_history
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
