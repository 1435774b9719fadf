"""Callbacks that count the blog's learning episodes (B6, B15)."""

from stable_baselines3.common.callbacks import StopTrainingOnMaxEpisodes


class StopTrainingOnMaxLearningEpisodes(StopTrainingOnMaxEpisodes):
    """
    SB3's ``StopTrainingOnMaxEpisodes``, counting only the blog's learning episodes (B15):
    those that end after the warm-up (B6). ``BlogDQN.learn(10**7,
    callback=StopTrainingOnMaxLearningEpisodes(400))`` is the blog's 400-episode run.

    The warm-up's random episodes run in SB3's loop, so SB3's own callback would count
    them; the episode in progress when the warm-up completes is cut by a reset and never
    ends. With any other algorithm this is SB3's callback unchanged.

    :param max_episodes: learning episodes after which training stops (blog ``n_episodes`` 400)
    :param verbose: 1 prints when training stops
    """

    def _on_step(self) -> bool:
        # Callbacks run before the step's transition is stored, so the step that completes
        # the warm-up still counts as warm-up, as its episode (if it ends there) is one.
        if getattr(self.model, "warming_up", False):
            return True
        return super()._on_step()
