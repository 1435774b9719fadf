from sb3_blogdqn.blogdqn.blogdqn import BlogDQN
from sb3_blogdqn.blogdqn.callbacks import StopTrainingOnMaxLearningEpisodes
from sb3_blogdqn.blogdqn.policies import BlogDQNPolicy, MlpPolicy, StandardScalerExtractor

__all__ = ["BlogDQN", "BlogDQNPolicy", "MlpPolicy", "StandardScalerExtractor", "StopTrainingOnMaxLearningEpisodes"]
