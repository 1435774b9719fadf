"""
Learning switches beyond the blog (issue: tuned presets): Double DQN targets, SB3's Huber
loss, QR-DQN's quantile loss and a decaying learning rate. Each is off by default, so BlogDQN stays the blog's
(B10, B12); ``tests/test_kernel.py`` checks the kernel computes them as the reference path.
"""

import numpy as np
import pytest
import torch as th
from torch.nn import functional as F

from sb3_blogdqn import BlogDQN, SetupError
from sb3_blogdqn.blogdqn.objectives import LOSSES, TDObjective


def learned_model(**kwargs) -> BlogDQN:
    """A model past its warm-up on the reference path, with a replay memory to sample."""
    model = BlogDQN("MlpPolicy", "CartPole-v1", use_kernel=False, seed=0, **kwargs)
    model.learn(100)
    return model


def test_defaults_are_the_blogs_targets_and_loss():
    model = BlogDQN("MlpPolicy", "CartPole-v1")
    assert model.double_q is False  # B10: max over Q̂
    assert model.loss == "mse"  # B10: Keras' mse


def test_double_q_bootstraps_on_the_target_networks_value_of_the_online_networks_action():
    model = learned_model(double_q=True, loss_on_all_actions=False)
    # Make the two networks disagree everywhere: Q prefers action 1, Q̂ action 0.
    with th.no_grad():
        model.q_net.q_net[-1].bias.copy_(th.tensor([0.0, 1000.0]))
        model.q_net_target.q_net[-1].bias.copy_(th.tensor([1000.0, 0.0]))
    replay = model.replay_buffer.sample(32)
    with th.no_grad():
        targets = model._objective.targets(model.policy, replay, model.gamma)
        next_q_target = model.q_net_target(replay.next_observations)
    not_done = 1 - replay.dones
    double_q = replay.rewards + not_done * model.gamma * next_q_target[:, 1:2]
    th.testing.assert_close(targets, double_q)
    with th.no_grad():
        single_q = TDObjective(LOSSES["mse"], all_actions=False).targets(model.policy, replay, model.gamma)
    th.testing.assert_close(single_q, replay.rewards + not_done * model.gamma * next_q_target[:, :1])
    assert (single_q - targets).abs().max() > 500  # the two rules differ on these networks


@pytest.mark.parametrize("loss_on_all_actions", [True, False], ids=["b10_all_actions", "taken_action"])
def test_huber_loss_is_sb3s_smooth_l1_over_the_same_terms(loss_on_all_actions):
    model = learned_model(loss="huber", loss_on_all_actions=loss_on_all_actions)
    observations = th.as_tensor(model.replay_buffer.observations[:1, 0])
    actions = th.tensor([[1]])
    with th.no_grad():
        q_values = model.q_net(observations)
    # One error inside the quadratic zone (0.5), one in the linear zone (3).
    targets = q_values + th.tensor([[0.5, 3.0]])
    if not loss_on_all_actions:
        targets = targets[:, 1:]
    expected = (0.5 * 0.5**2 + (3.0 - 0.5)) / 2 if loss_on_all_actions else 3.0 - 0.5
    assert model._objective(model.q_net, observations, actions, targets).item() == pytest.approx(expected, rel=1e-5)
    mse = TDObjective(LOSSES["mse"], all_actions=loss_on_all_actions)
    expected_mse = (0.5**2 + 3.0**2) / 2 if loss_on_all_actions else 3.0**2
    with th.no_grad():
        q_values = model.q_net(observations)
    shifted = q_values + th.tensor([[0.5, 3.0]])
    shifted = shifted if loss_on_all_actions else shifted[:, 1:]
    assert mse(model.q_net, observations, actions, shifted).item() == pytest.approx(expected_mse, rel=1e-5)
    assert F.smooth_l1_loss(th.zeros(1), th.tensor([3.0])).item() == pytest.approx(2.5)


def test_an_unknown_loss_is_refused_naming_the_choices():
    with pytest.raises(SetupError, match=r"loss must be one of \('mse', 'huber', 'quantile'\).*got 'l1'"):
        BlogDQN("MlpPolicy", "CartPole-v1", loss="l1")


QUANTILE = dict(loss="quantile", loss_on_all_actions=False, policy_kwargs=dict(n_quantiles=5))


def test_quantile_loss_gives_q_and_q_hat_quantile_heads_whose_mean_is_q():
    model = BlogDQN("MlpPolicy", "CartPole-v1", loss="quantile", loss_on_all_actions=False)
    assert model.policy.n_quantiles == 200  # sb3-contrib's QRDQNPolicy default
    model = learned_model(**QUANTILE)
    observations = th.as_tensor(model.replay_buffer.observations[:8, 0])
    for q_net in (model.q_net, model.q_net_target):
        assert q_net.q_net[-1].out_features == 2 * 5
        with th.no_grad():
            quantiles = q_net.quantiles(observations)
            assert quantiles.shape == (8, 5, 2)
            th.testing.assert_close(q_net(observations), quantiles.mean(dim=1))
    # Acting (B9) and predict() take the greedy action of those means.
    with th.no_grad():
        greedy = model.q_net(observations).argmax(dim=1).numpy()
    np.testing.assert_array_equal(model._replays.greedy_actions(observations.numpy()), greedy)


def test_quantile_targets_are_each_quantile_of_q_hat_at_the_greedy_next_action():
    model = learned_model(**QUANTILE)
    # Q̂'s action 1 has the larger mean but not the larger first quantile: the mean decides.
    with th.no_grad():
        model.q_net_target.q_net[-1].bias.copy_(th.tensor([50.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0, 100.0]))
    replay = model.replay_buffer.sample(16)
    with th.no_grad():
        targets = model._objective.targets(model.policy, replay, model.gamma)
        next_quantiles = model.q_net_target.quantiles(replay.next_observations)
    assert targets.shape == (16, 5)
    assert (model.q_net_target(replay.next_observations).argmax(dim=1) == 1).all()
    expected = replay.rewards + (1 - replay.dones) * model.gamma * next_quantiles[:, :, 1]
    th.testing.assert_close(targets, expected)


def test_quantile_loss_weighs_each_pair_by_its_quantiles_level():
    """ρ_τ: an error u = target - quantile costs τ huber(u) above the quantile, (1 - τ) huber(u) below (κ = 1)."""
    model = learned_model(loss="quantile", loss_on_all_actions=False, policy_kwargs=dict(n_quantiles=2))
    observations = th.as_tensor(model.replay_buffer.observations[:1, 0])
    actions = th.tensor([[0]])
    with th.no_grad():
        quantiles = model.q_net.quantiles(observations)[:, :, 0]
    # Both targets 0.5 above quantile 0 (τ 1/4) and 3 below quantile 1 (τ 3/4), rebased on each.
    targets = th.stack([quantiles[:, 0] + 0.5, quantiles[:, 1] - 3.0], dim=1)
    u = targets[0, :, None] - quantiles[0, None, :]  # u[j, i]: target j against quantile i
    huber = th.where(u.abs() > 1, u.abs() - 0.5, 0.5 * u**2)
    tau = th.tensor([0.25, 0.75])
    weights = (tau - (u < 0).float()).abs()
    expected = (weights * huber).sum() / 2  # summed over the quantiles, averaged over the 2 targets
    assert model._objective(model.q_net, observations, actions, targets).item() == pytest.approx(expected.item(), rel=1e-5)


def test_quantile_loss_and_head_need_each_other_and_the_taken_action_only():
    with pytest.raises(SetupError, match=r"loss=.quantile.*Pass loss_on_all_actions=False"):
        BlogDQN("MlpPolicy", "CartPole-v1", loss="quantile")
    with pytest.raises(SetupError, match=r"n_quantiles=25.*only the quantile loss.*Pass loss=.quantile."):
        BlogDQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(n_quantiles=25))
    with pytest.raises(SetupError, match="n_quantiles must be an int >= 1, got 0"):
        BlogDQN("MlpPolicy", "CartPole-v1", loss="quantile", loss_on_all_actions=False, policy_kwargs=dict(n_quantiles=0))


def test_a_quantile_model_saves_and_loads_with_its_head(tmp_path):
    model = learned_model(**QUANTILE)
    model.save(tmp_path / "model")
    loaded = BlogDQN.load(tmp_path / "model")
    assert loaded.loss == "quantile" and loaded.policy.n_quantiles == 5
    observations = model.replay_buffer.observations[:8, 0]
    np.testing.assert_array_equal(loaded.predict(observations, deterministic=True)[0],
                                  model.predict(observations, deterministic=True)[0])


@pytest.mark.parametrize("use_kernel", [True, False], ids=["kernel", "reference"])
def test_a_learning_rate_schedule_reaches_every_replay(use_kernel):
    """SB3's schedules (the Zoo's ``lin_`` strings) set the rate each replay uses, on both paths."""
    model = BlogDQN("MlpPolicy", "CartPole-v1", learning_rate=lambda progress_remaining: 0.0, use_kernel=use_kernel,
                    seed=0)
    model.learn(60)  # past the warm-up (B6): some replays ran
    before = [p.detach().clone() for p in model.q_net.parameters()]
    model.learn(60, reset_num_timesteps=False)
    assert model._n_updates > 0
    assert model.policy.optimizer.param_groups[0]["lr"] == 0.0
    for old, new in zip(before, model.q_net.parameters(), strict=True):
        th.testing.assert_close(new.detach(), old, rtol=0, atol=0)

    decaying = BlogDQN("MlpPolicy", "CartPole-v1", learning_rate=lambda progress_remaining: 1e-3 * progress_remaining,
                       use_kernel=use_kernel, seed=0)
    decaying.learn(100)
    last_rate = decaying.policy.optimizer.param_groups[0]["lr"]
    assert 0 < last_rate <= 1e-3 * (1 - 99 / 100) + 1e-12
    assert not np.isclose(last_rate, 1e-3)
