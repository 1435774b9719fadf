"""
The parity specification: the fused kernel computes what the plain-torch reference path computes (B9-B12).

A replay is the TD targets of a minibatch, computed once from Q̂ (B10), then its fits (B11: one
Adam step per sample, or one on the minibatch). The two paths agree half by half, from identical
states:

- **targets**: for the same minibatch, the same targets to float rounding;
- **fits**: from the same weights, scalers, Adam state and targets, every fit (every Adam step)
  ends in the same weights and Adam state to float rounding;
- **composition**: the kernel's replay is its targets, then its fits;
- **acting**: the same greedy actions (B9).

Both paths run in float32 but sum in different orders (torch's BLAS has its own), so they agree to
float rounding, not bit for bit, and each fit is compared from identical states: Adam divides each
step by its own scale, so a rounding difference in a near-zero gradient grows into a full
learning-rate step, and over many consecutive fits the two paths part by more than rounding on some
CPUs and not on others. Trajectories of learning are compared in the reproducible mode only.
"""

import copy
import math
import warnings
from typing import Any

import numpy as np
import pytest
import torch as th
from helpers import only_in_reproducible_mode
from stable_baselines3.common.callbacks import BaseCallback
from torch import nn

from sb3_blogdqn import BlogDQN
from sb3_blogdqn.blogdqn import kernel
from sb3_blogdqn.blogdqn.kernel import _n_step_return, kernel_unsupported_reason, memory_record
from sb3_blogdqn.blogdqn.learning import sample_replay_indices
from sb3_blogdqn.common.buffers import NStepHistoryReplayBuffer

ATOL = 1e-5
QUANTILE: dict[str, Any] = dict(loss="quantile", loss_on_all_actions=False, policy_kwargs=dict(n_quantiles=25))


def make_model(use_kernel: bool | None, seed: int = 0, **kwargs) -> BlogDQN:
    return BlogDQN("MlpPolicy", "CartPole-v1", use_kernel=use_kernel, seed=seed, **kwargs)


def copy_learning_state(source: BlogDQN, target: BlogDQN) -> None:
    """Give ``target`` the weights, scaler, Adam state and replay memory of ``source``."""
    target.policy.load_state_dict(source.policy.state_dict())
    # torch's load_state_dict keeps the given state tensors: copy them, or the models share moments.
    target.policy.optimizer.load_state_dict(copy.deepcopy(source.policy.optimizer.state_dict()))
    target.replay_buffer = source.replay_buffer
    target.set_logger(source.logger)


def learning_state(model: BlogDQN) -> dict[str, np.ndarray]:
    """Every weight of Q and Q̂, the scalers, and every Adam moment and step count, by name."""
    state = {f"policy.{name}": t.numpy().copy() for name, t in model.policy.state_dict().items()}
    for i, param in enumerate(model.policy.optimizer.param_groups[0]["params"]):
        for key, value in model.policy.optimizer.state[param].items():
            state[f"adam.{i}.{key}"] = value.numpy().copy()
    return state


def episode_rewards(model: BlogDQN) -> list[float]:
    assert model.ep_info_buffer is not None
    return [info["r"] for info in model.ep_info_buffer]


@pytest.fixture(scope="module")
def trained() -> BlogDQN:
    """
    A model 200 env steps into learning: fitted scaler, moved weights, Q̂ != Q, Adam moments.

    Not a fresh network: there Q̂ = Q exactly, so the untaken actions' errors (B10) are
    exactly zero in the kernel but rounding noise in torch (Q̂ runs on the batch, Q on one
    sample: two BLAS paths), and Adam's first steps (v ~ 0, ε = 1e-7) turn that noise into
    weight changes of ~1e-4. Nor a late one: Adam's v grows past 100, where float32's
    spacing alone exceeds 1e-5.
    """
    model = make_model(use_kernel=True)
    model.learn(200)
    return model


@pytest.mark.parametrize("per_sample_updates", [True, False], ids=["b11_per_sample", "batched"])
@pytest.mark.parametrize("loss_on_all_actions", [True, False], ids=["b10_all_actions", "taken_action"])
def test_kernel_matches_reference_on_100_minibatches(trained, loss_on_all_actions, per_sample_updates):
    assert_kernel_matches_reference(
        trained, loss_on_all_actions=loss_on_all_actions, per_sample_updates=per_sample_updates
    )


@pytest.mark.parametrize("per_sample_updates", [True, False], ids=["b11_per_sample", "batched"])
@pytest.mark.parametrize(
    "switches",
    [
        {"double_q": True},
        {"loss": "huber"},
        {"loss": "huber", "loss_on_all_actions": False},
        {"double_q": True, "loss": "huber", "loss_on_all_actions": False},
    ],
    ids=["double_q", "huber", "huber_taken_action", "double_q_huber_taken_action"],
)
def test_kernel_matches_reference_with_the_learning_switches(trained, switches, per_sample_updates):
    assert_kernel_matches_reference(trained, per_sample_updates=per_sample_updates, **switches)


# Inside the range of the gradient norms of these replays from `trained` (about 0.1 to 100 per sample,
# 0.5 to 4.5 per minibatch), so most fits are clipped and some are not.
MAX_GRAD_NORM = 1.0


@pytest.mark.parametrize("per_sample_updates", [True, False], ids=["b11_per_sample", "batched"])
@pytest.mark.parametrize(
    "switches", [{}, {"loss": "huber", "loss_on_all_actions": False}], ids=["blog", "huber_taken_action"]
)
def test_kernel_clips_gradients_as_clip_grad_norm(trained, switches, per_sample_updates):
    assert_kernel_matches_reference(trained, per_sample_updates=per_sample_updates, max_grad_norm=MAX_GRAD_NORM,
                                    **switches)


def test_kernel_gradient_clipping_changes_the_steps(trained):
    """The clipped replays end elsewhere than the unclipped ones: the parity test above is not vacuous."""
    weights = []
    for max_grad_norm in (math.inf, MAX_GRAD_NORM):
        model = make_model(use_kernel=True, max_grad_norm=max_grad_norm)
        copy_learning_state(trained, model)
        np.random.seed(0)
        model.train(gradient_steps=10, batch_size=32)
        weights.append(model.q_net.q_net[0].weight.detach().numpy().copy())
    assert np.abs(weights[0] - weights[1]).max() > 100 * ATOL


TORCH_ADAM: dict[str, Any] = dict(policy_kwargs=dict(optimizer_class=th.optim.Adam, optimizer_kwargs=dict(eps=1e-4)))


@pytest.fixture(scope="module")
def trained_torch_adam() -> BlogDQN:
    """
    :func:`trained` with torch's Adam (epsilon after bias correction) in place of KerasAdam (B12), on
    minibatch steps: about 170 of them, where the bias correction ``sqrt(1 - β2^t)`` is still near 0.4
    and so the two places for epsilon (1e-4, near the size of ``sqrt(v)``) give clearly different steps.
    """
    model = make_model(use_kernel=True, per_sample_updates=False, **TORCH_ADAM)
    model.learn(200)
    return model


@pytest.mark.parametrize("per_sample_updates", [True, False], ids=["b11_per_sample", "batched"])
def test_kernel_steps_torch_adam_as_torch(trained_torch_adam, per_sample_updates):
    assert type(trained_torch_adam.policy.optimizer) is th.optim.Adam and trained_torch_adam.uses_kernel
    assert_kernel_matches_reference(trained_torch_adam, per_sample_updates=per_sample_updates, **TORCH_ADAM)


def test_kernel_names_the_torch_adam_options_it_lacks():
    with pytest.raises(ValueError, match="amsgrad"):
        make_model(use_kernel=True, policy_kwargs=dict(optimizer_class=th.optim.Adam,
                                                       optimizer_kwargs=dict(amsgrad=True)))
    with pytest.raises(ValueError, match="implements KerasAdam and torch's Adam only"):
        make_model(use_kernel=True, policy_kwargs=dict(optimizer_class=th.optim.SGD))


@pytest.fixture(scope="module")
def trained_n_step() -> BlogDQN:
    """:func:`trained` with 3-step returns: the memory holds short random-play episodes, so many returns stop early."""
    model = make_model(use_kernel=True, n_steps=3)
    model.learn(200)
    return model


@pytest.mark.parametrize("per_sample_updates", [True, False], ids=["b11_per_sample", "batched"])
@pytest.mark.parametrize(
    "switches", [{}, {"double_q": True, "loss": "huber", "loss_on_all_actions": False}], ids=["blog", "double_q_huber"]
)
def test_kernel_matches_reference_with_n_step_returns(trained_n_step, switches, per_sample_updates):
    assert type(trained_n_step.replay_buffer) is NStepHistoryReplayBuffer
    assert_kernel_matches_reference(trained_n_step, per_sample_updates=per_sample_updates, n_steps=3, **switches)


@pytest.fixture(scope="module", params=[1, 3], ids=["one_step", "n_step"])
def trained_quantile(request) -> BlogDQN:
    """:func:`trained` with QR-DQN's quantile head and loss (25 quantiles, as the Zoo's QR-DQN), one- or 3-step."""
    model = make_model(use_kernel=True, n_steps=request.param, **QUANTILE)
    model.learn(200)
    return model


@pytest.mark.parametrize("per_sample_updates", [True, False], ids=["b11_per_sample", "batched"])
@pytest.mark.parametrize("switches", [{}, {"double_q": True}], ids=["qr", "qr_double_q"])
def test_kernel_matches_reference_with_the_quantile_loss(trained_quantile, switches, per_sample_updates):
    assert_kernel_matches_reference(trained_quantile, per_sample_updates=per_sample_updates,
                                    n_steps=trained_quantile.n_steps, **QUANTILE, **switches)


WIDE_NET = dict(net_arch=[66, 61])
WIDE_OBJECTIVES = {"blog": {}, "huber_taken_action": dict(loss="huber", loss_on_all_actions=False),
                   "qr": dict(QUANTILE, policy_kwargs=dict(QUANTILE["policy_kwargs"], **WIDE_NET))}


def wide(objective: str) -> dict:
    """Minibatch steps on wider layers, widths off the batched fit's 4-fold passes, with one of WIDE_OBJECTIVES."""
    return {"per_sample_updates": False, "policy_kwargs": WIDE_NET, **WIDE_OBJECTIVES[objective]}


@pytest.fixture(scope="module", params=list(WIDE_OBJECTIVES))
def trained_wide(request) -> tuple[BlogDQN, dict]:
    """:func:`trained` on :func:`wide` layers, and its switches."""
    model = make_model(use_kernel=True, **wide(request.param))
    model.learn(200)
    return model, wide(request.param)


def test_kernel_matches_reference_on_wide_layers(trained_wide):
    assert_kernel_matches_reference(*trained_wide[:1], **trained_wide[1])


def test_kernel_batched_fit_leaves_out_zero_gradients_to_the_bit():
    """
    The batched fit's backward pass and gradient sums leave out the products with a zero gradient (a
    ReLU off, an untaken action's output), which add nothing: the same bits as every product summed,
    as long as the weights and activations are finite; with an infinite or NaN one, all are summed.
    """
    rng = np.random.default_rng(0)
    sizes = np.array([9, 66, 61, 6])
    params = tuple(rng.standard_normal(n).astype(np.float32)
                   for layer in range(3) for n in (sizes[layer + 1] * sizes[layer], sizes[layer + 1]))
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    grad_offsets = np.concatenate([[0], np.cumsum([len(p) for p in params])])
    acts = np.maximum(rng.standard_normal((37, offsets[-1])), 0).astype(np.float32)  # ReLU's zeros
    deltas = rng.standard_normal(acts.shape).astype(np.float32) * (rng.random(acts.shape) < 0.3)
    results = []
    for skip_zeros in (True, False):
        grad, work_deltas = np.zeros(grad_offsets[-1], np.float32), deltas.copy()
        kernel._backward_rows(params, sizes, offsets, acts, work_deltas, skip_zeros)
        kernel._weight_gradients(sizes, offsets, grad_offsets, grad, acts, work_deltas, skip_zeros)
        results.append((grad, work_deltas))
    assert (results[0][1] == 0).mean() > 0.5  # the zeros left out are most of the products
    np.testing.assert_array_equal(results[0][0].view(np.int32), results[1][0].view(np.int32))
    np.testing.assert_array_equal(results[0][1].view(np.int32), results[1][1].view(np.int32))
    assert kernel._all_finite(params) and kernel._all_finite((acts,))
    for value in (np.inf, -np.inf, np.nan):
        assert not kernel._all_finite((*params, np.array([1.0, value], np.float32)))


@kernel._ordered
def _forward_columns_one_product_per_pass(params, sizes, offsets, columns):
    """The targets' forward pass as the plain loops it stands for: one product per pass over the minibatch."""
    for layer in range(len(sizes) - 1):
        weight, bias, n_in = params[2 * layer], params[2 * layer + 1], sizes[layer]
        for o in range(sizes[layer + 1]):
            y = columns[offsets[layer + 1] + o]
            y[:] = 0.0
            for i in range(n_in):
                for c in range(columns.shape[1]):
                    y[c] = y[c] + weight[o * n_in + i] * columns[offsets[layer] + i, c]
            for c in range(columns.shape[1]):
                total = y[c] + bias[o]
                y[c] = 0.0 if layer < len(sizes) - 2 and total < 0 else total


@pytest.mark.parametrize("sizes", [[9, 66, 61, 6], [16, 20, 20, 10, 2], [24, 256, 75]])
def test_kernel_targets_forward_sums_in_the_order_of_the_inputs_to_the_bit(sizes):
    """
    The targets' forward pass adds four inputs' products into four outputs per pass over the
    minibatch: each element still sums its products in the order of the inputs, from zero, then
    its bias, to the bit of one product per pass (widths off multiples of 4 included).
    """
    rng = np.random.default_rng(1)
    sizes = np.array(sizes)
    params = tuple(rng.standard_normal(n).astype(np.float32)
                   for layer in range(len(sizes) - 1) for n in (sizes[layer + 1] * sizes[layer], sizes[layer + 1]))
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    columns = np.zeros((offsets[-1], 37), np.float32)
    columns[: sizes[0]] = rng.standard_normal((sizes[0], 37))
    expected = columns.copy()
    _forward_columns_one_product_per_pass(params, sizes, offsets, expected)
    network = kernel.Network(params, np.zeros(sizes[0], np.float32), np.ones(sizes[0], np.float32), sizes, 0)
    kernel._forward_columns(network, offsets, columns)
    assert (expected[offsets[1] : offsets[-2]] == 0).any()  # ReLU was on
    np.testing.assert_array_equal(columns.view(np.int32), expected.view(np.int32))


def test_kernel_n_step_returns_stop_at_episode_ends_and_at_the_newest_row(trained_n_step):
    """SB3's NStepReplayBuffer's returns, discounts and bootstrap rows, row by row, from the kernel's helper."""
    buffer = trained_n_step.replay_buffer
    rows = np.arange(buffer.size())
    samples = buffer._get_samples(rows)
    m = memory_record(buffer)
    gamma = np.float32(trained_n_step.gamma)
    returns, discounts, last_rows = zip(
        *(_n_step_return.py_func(row, m.rewards, m.dones, m.timeouts, 3, m.newest, gamma) for row in rows), strict=True
    )
    np.testing.assert_allclose(returns, samples.rewards.numpy()[:, 0], rtol=1e-6)
    np.testing.assert_allclose(discounts, samples.discounts.numpy()[:, 0], rtol=1e-6)
    np.testing.assert_array_equal(buffer.next_observations[list(last_rows), 0], samples.next_observations.numpy())
    # Not a one-step buffer in disguise: both full 3-step returns and returns cut by an episode's end occur.
    assert np.isclose(discounts, gamma**3).any() and np.isclose(discounts, gamma).any()


def assert_kernel_matches_reference(trained: BlogDQN, per_sample_updates: bool, n_replays: int = 8,
                                    **switches) -> None:
    """
    ``n_replays`` replays from ``trained``'s state, half by half (module docstring): each minibatch's
    targets on both paths, then each of its fits from identical states; the reference path goes on
    from where its own fits left it, the kernel restarts from there before every fit.
    """
    kernel, reference = (make_model(use_kernel, per_sample_updates=per_sample_updates, **switches)
                         for use_kernel in (True, False))
    copy_learning_state(trained, reference)
    buffer = trained.replay_buffer
    start = learning_state(reference)
    for k in range(n_replays):
        copy_learning_state(reference, kernel)
        np.random.seed(k)
        rows = sample_replay_indices(buffer, 1, 32)[0]  # one minibatch for both (B7)
        targets = reference._replays.td_targets(buffer, rows, reference.gamma)
        np.testing.assert_allclose(kernel._replays.td_targets(buffer, rows, kernel.gamma), targets, rtol=1e-5,
                                   atol=ATOL, err_msg=f"the targets of replay {k}")
        # The fits take the targets moved to errors in every region of every loss (Huber's and the
        # quantile loss's quadratic and linear ones, both signs), which real targets reach only sometimes.
        targets = targets + np.resize(np.array([-3.0, -0.3, 0.3, 3.0], np.float32), targets.shape)
        observations, actions = buffer.observations[rows, 0], buffer.actions[rows, 0]
        fits = [slice(i, i + 1) for i in range(32)] if per_sample_updates else [slice(None)]
        for fit in fits:
            copy_learning_state(reference, kernel)
            for model in (kernel, reference):
                model._update_learning_rate(model.policy.optimizer)
                model._replays.fit(observations[fit], actions[fit], targets[fit])
            assert_same_learning_state(kernel, reference, f"fit {fit} of replay {k}")
    n_fits = n_replays * (32 if per_sample_updates else 1)
    assert learning_state(reference)["adam.0.step"] == start["adam.0.step"] + n_fits
    # The fits did move the weights: the comparison is not between two unchanged copies.
    moved = np.abs(learning_state(reference)["policy.q_net.q_net.0.weight"] - start["policy.q_net.q_net.0.weight"])
    assert moved.max() > 100 * ATOL

    observations = buffer.observations[: buffer.size(), 0]
    np.testing.assert_array_equal(kernel._replays.greedy_actions(observations),
                                  reference._replays.greedy_actions(observations))


def assert_same_learning_state(kernel: BlogDQN, reference: BlogDQN, when: str) -> None:
    kernel_state, reference_state = learning_state(kernel), learning_state(reference)
    assert kernel_state.keys() == reference_state.keys()
    for name, value in reference_state.items():
        # Relative too: n-step returns' larger errors take Adam's moments past 10, where float32's
        # spacing is 1e-6, so their rounding is only bounded relative to their size.
        np.testing.assert_allclose(kernel_state[name], value, rtol=1e-5, atol=ATOL, err_msg=f"{name} after {when}")


@pytest.mark.parametrize("switches", [{}, {"loss": "huber", "double_q": True}, QUANTILE], ids=["blog", "huber", "qr"])
def test_kernel_replay_is_its_targets_then_its_fits(trained, switches):
    """Composition: the fused replay computes what its two halves compute, called one after the other."""
    n_steps = 3 if switches.get("loss") == "quantile" else 1
    replayed, halves = (make_model(True, n_steps=n_steps, **switches) for _ in range(2))
    source = make_model(True, n_steps=n_steps, **switches)
    source.learn(200)
    for model in (replayed, halves):
        copy_learning_state(source, model)
    np.random.seed(0)
    replayed.train(gradient_steps=1, batch_size=32)
    np.random.seed(0)
    rows = sample_replay_indices(source.replay_buffer, 1, 32)[0]
    halves._update_learning_rate(halves.policy.optimizer)
    targets = halves._replays.td_targets(source.replay_buffer, rows, halves.gamma)
    halves._replays.fit(source.replay_buffer.observations[rows, 0], source.replay_buffer.actions[rows, 0], targets)
    for name, value in learning_state(replayed).items():
        np.testing.assert_allclose(learning_state(halves)[name], value, rtol=1e-6, atol=1e-7, err_msg=name)


def test_b9_kernel_greedy_action_is_the_online_networks_argmax(trained):
    observations = trained.replay_buffer.observations[: trained.replay_buffer.size(), 0]
    with th.no_grad():
        torch_actions = trained.q_net(th.as_tensor(observations)).argmax(dim=1).numpy()
    np.testing.assert_array_equal(trained._replays.greedy_actions(observations), torch_actions)


def test_kernel_updates_the_torch_tensors_in_place(trained):
    """predict, callbacks and save/load see the kernel's weights and Adam state."""
    model = make_model(use_kernel=True)
    copy_learning_state(trained, model)
    weight = model.policy.q_net.q_net[0].weight
    state = model.policy.optimizer.state[weight]
    before = weight.detach().clone(), state["exp_avg"].clone(), state["exp_avg_sq"].clone(), float(state["step"])
    model.train(gradient_steps=2, batch_size=32)
    assert weight is model.policy.q_net.q_net[0].weight
    assert not th.equal(weight.detach(), before[0])
    assert not th.equal(state["exp_avg"], before[1])
    assert not th.equal(state["exp_avg_sq"], before[2])
    assert float(state["step"]) == before[3] + 64


def test_kernel_follows_a_reloaded_optimizer_state(trained):
    model = make_model(use_kernel=True)
    copy_learning_state(trained, model)
    model.train(gradient_steps=1, batch_size=32)
    copy_learning_state(trained, model)  # new Adam state tensors: the kernel must rebind to them
    model.train(gradient_steps=1, batch_size=32)
    step = model.policy.optimizer.state[model.policy.q_net.q_net[0].weight]["step"]
    assert float(step) == learning_state(trained)["adam.0.step"] + 32


def test_kernel_state_survives_save_and_load(trained, tmp_path):
    model = make_model(use_kernel=True)
    copy_learning_state(trained, model)
    model.train(gradient_steps=3, batch_size=32)
    model.save(tmp_path / "model.zip")
    loaded = BlogDQN.load(tmp_path / "model.zip", env=model.get_env())
    saved, restored = learning_state(model), learning_state(loaded)
    assert saved.keys() == restored.keys()
    for name, value in saved.items():
        np.testing.assert_array_equal(restored[name], value, err_msg=name)
    loaded.learn(80, reset_num_timesteps=False)  # the loaded model's kernel binds to its own tensors
    assert float(loaded.policy.optimizer.state[loaded.policy.q_net.q_net[0].weight]["step"]) > saved["adam.0.step"]


def test_kernel_serves_any_relu_net_arch():
    model = make_model(use_kernel=True, policy_kwargs=dict(net_arch=[7]))
    model.learn(120)
    assert model.uses_kernel
    model = make_model(use_kernel=True, policy_kwargs=dict(net_arch=[]))  # a linear Q
    model.learn(120)
    assert model.uses_kernel


def test_unsupported_model_falls_back_with_one_warning():
    with pytest.warns(UserWarning, match="reference path.*activation_fn=nn.ReLU"):
        model = make_model(use_kernel=None, policy_kwargs=dict(activation_fn=nn.Tanh))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.learn(120)
    assert model._n_updates > 0 and not model.uses_kernel
    assert not [w for w in caught if "reference path" in str(w.message)]
    with pytest.raises(ValueError, match="use_kernel=True"):
        make_model(use_kernel=True, policy_kwargs=dict(activation_fn=nn.Tanh))
    # use_kernel=False asks for the reference path: nothing to warn about.
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*reference path.*")
        make_model(use_kernel=False, policy_kwargs=dict(activation_fn=nn.Tanh))


def test_kernel_names_why_it_cannot_serve_a_cuda_model(trained):
    assert "cuda" in kernel_unsupported_reason(trained.policy, trained.replay_buffer, th.device("cuda"))
    assert kernel_unsupported_reason(trained.policy, trained.replay_buffer, th.device("cpu")) is None


class StepRecorder(BaseCallback):
    """Each learning step's action, next observation, and the online Q-values the action was chosen from."""

    model: BlogDQN  # follows a BlogDQN: typed so that its own attributes (warming_up, q_net, ...) check

    def __init__(self) -> None:
        super().__init__()
        self.actions: list[int] = []
        self.observations: list[np.ndarray] = []
        self.q_values: list[np.ndarray] = []

    def _on_step(self) -> bool:
        # The callback runs after the env step and before the step's replays: _last_obs is the
        # history the action was chosen from, and Q still holds the weights that chose it.
        with th.no_grad():
            self.q_values.append(self.model.q_net(th.as_tensor(self.model._last_obs)).numpy()[0])
        self.actions.append(int(self.locals["actions"][0]))
        self.observations.append(self.locals["new_obs"][0].copy())
        return True


# Learning steps over which rounding differences between the paths stay far below Q_TOLERANCE in the
# reproducible mode (the largest gap there is 2e-4). Rounding then grows by orders of magnitude within a
# few dozen steps (Adam amplifies it); natively, how soon depends on the CPU, which is why the
# comparison runs in the reproducible mode only, where every CPU computes the same trajectories.
PARITY_STEPS = 100
Q_TOLERANCE = 1e-2


@only_in_reproducible_mode
def test_kernel_and_reference_learn_alike_until_rounding_flips_a_greedy_choice():
    """
    learn() on both paths from one seed: the same warm-up, scaler, random draws, ε and
    target copies, so the same actions and Q-values to rounding, step by step. A greedy
    choice between two actions whose values are within rounding of each other may go
    either way; from the first differing action on the trajectories are different runs,
    so the comparison stops there, after checking that Q agreed at that step too (a
    flip is then rounding, not a difference in what the paths compute).
    """
    runs = []
    for use_kernel in (True, False):
        recorder = StepRecorder()
        make_model(use_kernel, seed=0).learn(PARITY_STEPS + 120, callback=recorder)  # 120 > any warm-up here
        runs.append(recorder)
    kernel, reference = runs
    assert len(kernel.actions) == len(reference.actions) >= PARITY_STEPS
    differing = [t for t in range(PARITY_STEPS) if kernel.actions[t] != reference.actions[t]]
    shared = differing[0] if differing else PARITY_STEPS
    np.testing.assert_array_equal(np.array(kernel.observations[:shared]), np.array(reference.observations[:shared]))
    compared = min(shared + 1, PARITY_STEPS)
    np.testing.assert_allclose(np.array(kernel.q_values[:compared]), np.array(reference.q_values[:compared]),
                               rtol=0, atol=Q_TOLERANCE)
    # Not two unchanged networks: over the window the replays move Q far more than the tolerance.
    assert np.abs(kernel.q_values[PARITY_STEPS - 1] - kernel.q_values[0]).max() > 10 * Q_TOLERANCE


# Random play scores about 22 on CartPole-v1. The mean score of the last 10 episodes in 2,000
# env steps, averaged over seeds 0-4, was 103-104 under the CPU settings above (single seeds
# 87-124): the bound, twice random play, leaves a margin of about 60 to them.
LEARNING_SEEDS = range(5)
LEARNED_SCORE = 2 * 22


def test_default_path_learns_cartpole_within_2000_steps():
    """
    One seed's run is one trajectory, and past the first episodes that trajectory depends on
    the CPU's float rounding (the reference path's best episode in 2,000 steps of seed 0 was
    172 on the development box, 136 on another x86 machine, 274 with torch's
    ATEN_CPU_CAPABILITY=default), so learning is judged on a mean over seeds. The reference
    path learns alike because it computes the same replays (the parity tests above), which
    spares running it, at a twentieth of the kernel's speed, for 2,000 steps.
    """
    scores = []
    for seed in LEARNING_SEEDS:
        model = make_model(use_kernel=None, seed=seed)
        model.learn(2000)
        assert model.uses_kernel  # the default path is the kernel
        scores.append(np.mean(episode_rewards(model)[-10:]))
    assert np.mean(scores) >= LEARNED_SCORE, scores
