"""Callbacks shared by several test modules."""

from stable_baselines3.common.callbacks import BaseCallback


class InterruptAt(BaseCallback):
    """Raises KeyboardInterrupt at the ``n_calls``-th step, where a user's Ctrl-C would land."""

    def __init__(self, n_calls: int) -> None:
        super().__init__()
        self.at = n_calls

    def _on_step(self) -> bool:
        if self.n_calls == self.at:
            raise KeyboardInterrupt
        return True
