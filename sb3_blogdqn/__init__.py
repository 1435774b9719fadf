"""sb3-blogdqn: the DATUM STUDIO blog's DQN (Keras, CartPole-v1) as a Stable-Baselines3 algorithm."""

from sb3_blogdqn.blogdqn import (
    BlogDQN,
    BlogDQNPolicy,
    CnnPolicy,
    DictStandardScalerExtractor,
    MinAtarCNN,
    MlpPolicy,
    MultiInputPolicy,
    StandardScalerExtractor,
    StopTrainingOnMaxLearningEpisodes,
)
from sb3_blogdqn.blogdqn.checkpoints import load_checkpoint, resume_from_checkpoint
from sb3_blogdqn.common.checkpoints import CheckpointCallback
from sb3_blogdqn.common.checks import SetupError, SpaceError
from sb3_blogdqn.common.optim import KerasAdam
from sb3_blogdqn.common.wrappers import VecHistory, VecStandardScaler, make_blog_env

__version__ = "0.1.0"

__all__ = [
    "BlogDQN",
    "BlogDQNPolicy",
    "CheckpointCallback",
    "CnnPolicy",
    "DictStandardScalerExtractor",
    "KerasAdam",
    "MinAtarCNN",
    "MlpPolicy",
    "MultiInputPolicy",
    "SetupError",
    "SpaceError",
    "StandardScalerExtractor",
    "StopTrainingOnMaxLearningEpisodes",
    "VecHistory",
    "VecStandardScaler",
    "load_checkpoint",
    "make_blog_env",
    "resume_from_checkpoint",
]
