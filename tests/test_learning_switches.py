"""
Learning switches beyond the blog (issue: tuned presets): Double DQN targets, SB3's Huber
loss and a decaying learning rate. Each is off by default, so BlogDQN stays the blog's
(B10, B12); ``tests/test_kernel.py`` checks the kernel computes them as the reference path.
"""

import numpy as np
import pytest
import torch as th
from torch.nn import functional as F

from sb3_blogdqn import BlogDQN, SetupError


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
        targets = model._td_targets(replay)
        next_q_target = model.q_net_target(replay.next_observations)
    not_done = 1 - replay.dones
    double_q = replay.rewards + not_done * model.gamma * next_q_target[:, 1:2]
    th.testing.assert_close(targets, double_q)
    model.double_q = False
    with th.no_grad():
        single_q = model._td_targets(replay)
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
    assert model._fit(observations, actions, targets) == pytest.approx(expected, rel=1e-5)
    model.loss = "mse"
    expected_mse = (0.5**2 + 3.0**2) / 2 if loss_on_all_actions else 3.0**2
    with th.no_grad():
        q_values = model.q_net(observations)
    shifted = q_values + th.tensor([[0.5, 3.0]])
    shifted = shifted if loss_on_all_actions else shifted[:, 1:]
    assert model._fit(observations, actions, shifted) == pytest.approx(expected_mse, rel=1e-5)
    assert F.smooth_l1_loss(th.zeros(1), th.tensor([3.0])).item() == pytest.approx(2.5)


def test_an_unknown_loss_is_refused_naming_the_choices():
    with pytest.raises(SetupError, match=r"loss must be one of \('mse', 'huber'\).*got 'l1'"):
        BlogDQN("MlpPolicy", "CartPole-v1", loss="l1")


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
