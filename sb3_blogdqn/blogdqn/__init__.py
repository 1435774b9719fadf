from sb3_blogdqn.blogdqn.blogdqn import BlogDQN
from sb3_blogdqn.blogdqn.callbacks import StopTrainingOnMaxLearningEpisodes
from sb3_blogdqn.blogdqn.policies import (
    BlogDQNPolicy,
    CnnPolicy,
    DictStandardScalerExtractor,
    MinAtarCNN,
    MlpPolicy,
    MultiInputPolicy,
    StandardScalerExtractor,
)

__all__ = [
    "BlogDQN",
    "BlogDQNPolicy",
    "CnnPolicy",
    "DictStandardScalerExtractor",
    "MinAtarCNN",
    "MlpPolicy",
    "MultiInputPolicy",
    "StandardScalerExtractor",
    "StopTrainingOnMaxLearningEpisodes",
]
