"""
The blog's network: StandardScaler input (B4), 20-20-10 ReLU MLP, Glorot init, Keras Adam (B12);
for images the Nature-2015 CNN (or MinAtar's) with SB3's division by 255 as B4, and for Dict
observations SB3's combined extractor with a StandardScaler on each vector key.
"""

from typing import Any, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor, NatureCNN, create_mlp
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from torch import nn

from sb3_blogdqn.common.optim import KerasAdam
from sb3_blogdqn.common.scaling import fit_standard_scaler, standardize


class StandardScalerExtractor(BaseFeaturesExtractor):
    """
    scikit-learn's ``StandardScaler`` as a frozen input layer (B4).

    ``(x - mean) / scale`` with the population standard deviation as ``scale`` and, as
    scikit-learn does, a scale below ``10 * float64 eps`` replaced by 1 so constant
    features pass through centred instead of becoming NaN (``common.scaling``, shared with
    the ``VecStandardScaler`` wrapper for other algorithms). Until :meth:`fit` is called
    it is the identity. The statistics are buffers, so they are part of the policy's
    ``state_dict`` and travel inside the model's zip; the replay memory keeps raw values.
    """

    mean: th.Tensor
    scale: th.Tensor
    n_samples_seen: th.Tensor

    def __init__(self, observation_space: spaces.Box) -> None:
        n_features = int(np.prod(observation_space.shape))
        super().__init__(observation_space, features_dim=n_features)
        self.register_buffer("mean", th.zeros(n_features))
        self.register_buffer("scale", th.ones(n_features))
        # A float, like every other parameter and buffer: SB3's tools treat a state_dict as floats.
        self.register_buffer("n_samples_seen", th.zeros(()))

    @property
    def fitted(self) -> bool:
        return bool(self.n_samples_seen > 0)

    def fit(self, observations: np.ndarray, bounds: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Fit once on the warm-up histories (a 2-D array, one history per row), B4; ``bounds``: see ``common.scaling``."""
        mean, scale = fit_standard_scaler(observations, bounds)
        self.mean.copy_(th.as_tensor(mean, dtype=self.mean.dtype))
        self.scale.copy_(th.as_tensor(scale, dtype=self.scale.dtype))
        self.n_samples_seen.fill_(len(observations))

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return standardize(observations.flatten(1), self.mean, self.scale)


class DictStandardScalerExtractor(CombinedExtractor):
    """
    SB3's ``CombinedExtractor`` for Dict observations with B4 on each key: image keys go through
    ``NatureCNN`` after SB3's division by 255, vector keys through their own
    :class:`StandardScalerExtractor`, fitted once on the warm-up; the features are concatenated.
    """

    def __init__(self, observation_space: spaces.Dict, cnn_output_dim: int = 256, normalized_image: bool = False) -> None:
        super().__init__(observation_space, cnn_output_dim=cnn_output_dim, normalized_image=normalized_image)
        for key, subspace in observation_space.spaces.items():
            if not is_image_space(subspace, normalized_image=normalized_image):
                self.extractors[key] = StandardScalerExtractor(cast(spaces.Box, subspace))  # VecHistory's are Boxes

    @property
    def scalers(self) -> dict[str, StandardScalerExtractor]:
        """The vector keys' scalers, by key."""
        return {key: extractor for key, extractor in self.extractors.items() if isinstance(extractor, StandardScalerExtractor)}

    @property
    def fitted(self) -> bool:
        return all(scaler.fitted for scaler in self.scalers.values())

    def fit(self, observations: dict[str, np.ndarray],
            bounds: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        """Fit each vector key's scaler once on its warm-up histories (B4), on its space's ``bounds`` if given."""
        for key, scaler in self.scalers.items():
            key_bounds = None if bounds is None else (np.reshape(bounds[key][0], -1), np.reshape(bounds[key][1], -1))
            scaler.fit(np.asarray(observations[key]).reshape(len(observations[key]), -1), key_bounds)


class MinAtarCNN(BaseFeaturesExtractor):
    """
    The network of the MinAtar paper (Young & Tian, 2019, arXiv:1903.03176, its DQN): one convolution of
    16 3×3 filters, stride 1, then a dense layer of 128 ReLU units. MinAtar's states are 10×10×C
    booleans, too small for ``NatureCNN``'s 8×8 stride-4 filter; its channels are last (``channels_order``).
    """

    def __init__(self, observation_space: spaces.Box, features_dim: int = 128, channels_order: str = "last") -> None:
        super().__init__(observation_space, features_dim)
        self.channels_last = channels_order == "last"
        shape = observation_space.shape
        channels, height, width = (shape[2], shape[0], shape[1]) if self.channels_last else shape
        self.cnn = nn.Sequential(nn.Conv2d(channels, 16, kernel_size=3, stride=1), nn.ReLU(), nn.Flatten())
        self.linear = nn.Sequential(nn.Linear(16 * (height - 2) * (width - 2), features_dim), nn.ReLU())

    def forward(self, observations: th.Tensor) -> th.Tensor:
        if self.channels_last:
            observations = observations.permute(0, 3, 1, 2)
        return self.linear(self.cnn(observations))


class QuantileQNetwork(QNetwork):
    """
    SB3's ``QNetwork`` with a head of ``n_quantiles`` values per action, laid out as
    sb3-contrib's ``QuantileNetwork`` (QR-DQN, Dabney et al., 2018): :meth:`quantiles`
    gives them, ``(batch, n_quantiles, n_actions)``; calling the network gives their mean,
    the Q-values, so acting (B9), ``predict`` and everything reading Q-values work unchanged.
    """

    def __init__(self, *args: Any, n_quantiles: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.n_quantiles = n_quantiles
        n_actions = int(self.action_space.n)
        self.q_net = nn.Sequential(*create_mlp(self.features_dim, n_actions * n_quantiles, self.net_arch,
                                               self.activation_fn))

    def quantiles(self, obs: PyTorchObs) -> th.Tensor:
        """The return distribution's quantiles: ``(batch, n_quantiles, n_actions)``."""
        return super().forward(obs).view(-1, self.n_quantiles, int(self.action_space.n))

    def forward(self, obs: PyTorchObs) -> th.Tensor:
        return self.quantiles(obs).mean(dim=1)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "n_quantiles": self.n_quantiles}


class BlogDQNPolicy(DQNPolicy):
    """
    DQN policy (online Q and target Q̂) with the blog's network and optimizer.

    Defaults: ``net_arch=[20, 20, 10]`` with ReLU and a linear head (B12), inputs
    standardized by :class:`StandardScalerExtractor` (B4), weights Glorot-uniform and
    biases zero (Keras' ``Dense`` defaults), optimizer :class:`KerasAdam` with Keras'
    ``epsilon=1e-7``. Setting ``act_with_target`` (BlogDQN's option of the same name)
    makes ``predict`` act greedily with the target network, as the blog's ``run()`` does
    (B16); training always acts with Q (B9). ``n_quantiles`` (not the blog's; BlogDQN sets it
    with ``loss="quantile"``) gives Q and Q̂ a :class:`QuantileQNetwork` head instead.
    ``glorot_init=False`` (not the blog's) keeps torch's ``nn.Linear`` initialization, as SB3's
    DQN and sb3-contrib's QR-DQN have: Kaiming-uniform weights and biases, both within
    ``1 / sqrt(fan_in)``, where Glorot's limit is ``sqrt(6 / (fan_in + fan_out))``.
    """

    act_with_target: bool = False

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = StandardScalerExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = KerasAdam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_quantiles: int | None = None,
        glorot_init: bool = True,
    ) -> None:
        self.n_quantiles = n_quantiles  # read by make_q_net, which the base constructor calls
        self.glorot_init = glorot_init  # read by _build, which the base constructor calls
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=[20, 20, 10] if net_arch is None else net_arch,
            activation_fn=activation_fn,
            features_extractor_class=features_extractor_class,
            features_extractor_kwargs=features_extractor_kwargs,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )

    def make_q_net(self) -> QNetwork:
        if self.n_quantiles is None:
            return super().make_q_net()
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return QuantileQNetwork(**net_args, n_quantiles=self.n_quantiles).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "n_quantiles": self.n_quantiles,
                "glorot_init": self.glorot_init}

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        if not self.glorot_init:
            return
        # Keras' Dense and Conv2D defaults, not torch's Kaiming-uniform: part of the blog's behaviour.
        for module in self.q_net.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        self.q_net_target.load_state_dict(self.q_net.state_dict())

    @property
    def scaler(self) -> StandardScalerExtractor | None:
        """The online network's input scaler, or None for a custom features extractor."""
        extractor = self.q_net.features_extractor
        return extractor if isinstance(extractor, StandardScalerExtractor) else None

    def fit_scaler(self, observations: Any, bounds: Any = None) -> None:
        """Fit the scalers of Q and of Q̂ once on the warm-up histories (B4), bounded features on ``bounds`` if given."""
        for q_net in (self.q_net, self.q_net_target):
            if isinstance(q_net.features_extractor, (StandardScalerExtractor, DictStandardScalerExtractor)):
                q_net.features_extractor.fit(observations, bounds)  # type: ignore[arg-type]

    def set_training_mode(self, mode: bool) -> None:
        # SB3 calls this on every env step; nn.Module.train() walks every submodule each
        # time, a noticeable share of a fast step. Skip it when nothing would change.
        if mode != self.training:
            super().set_training_mode(mode)

    def _predict(self, obs: PyTorchObs, deterministic: bool = True) -> th.Tensor:
        q_net = self.q_net_target if self.act_with_target else self.q_net
        return q_net._predict(obs, deterministic=deterministic)


MlpPolicy = BlogDQNPolicy


class CnnPolicy(BlogDQNPolicy):
    """
    :class:`BlogDQNPolicy` for images: the Nature-2015 DQN's network (SB3's ``NatureCNN`` and a
    linear head, ``net_arch=[]``), Glorot-initialized and trained by :class:`KerasAdam` (B12). B4 on
    images is SB3's division by 255 (``normalize_images``), which BlogDQN's ``standardize_inputs``
    sets. For MinAtar's 10×10 states pass ``features_extractor_class=MinAtarCNN``.
    """

    def __init__(self, observation_space: spaces.Box, action_space: spaces.Discrete, lr_schedule: Schedule,
                 net_arch: list[int] | None = None, features_extractor_class: type[BaseFeaturesExtractor] = NatureCNN,
                 **kwargs: Any) -> None:
        super().__init__(observation_space, action_space, lr_schedule, net_arch=[] if net_arch is None else net_arch,
                         features_extractor_class=features_extractor_class, **kwargs)


class MultiInputPolicy(BlogDQNPolicy):
    """
    :class:`BlogDQNPolicy` for Dict observations: :class:`DictStandardScalerExtractor` (``NatureCNN`` on
    image keys, a StandardScaler fitted on the warm-up on vector keys, B4), then the 20-20-10 MLP (B12).
    """

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Discrete, lr_schedule: Schedule,
                 features_extractor_class: type[BaseFeaturesExtractor] = DictStandardScalerExtractor,
                 **kwargs: Any) -> None:
        super().__init__(observation_space, action_space, lr_schedule,  # type: ignore[arg-type]
                         features_extractor_class=features_extractor_class, **kwargs)


POLICY_ALIASES: dict[str, type[BlogDQNPolicy]] = {
    "MlpPolicy": MlpPolicy, "CnnPolicy": CnnPolicy, "MultiInputPolicy": MultiInputPolicy,
}
"""The policy names BlogDQN takes, as SB3's DQN names its own: vectors, images, Dict observations."""
