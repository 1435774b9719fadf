"""The blog's own plot of a learning run (rule B17)."""

from collections.abc import Sequence

import numpy as np

try:
    from matplotlib import pyplot as plt
    from matplotlib.axes import Axes
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError("The blog's plot (B17) needs matplotlib: " 'pip install "sb3-blogdqn[plots]"') from error


def plot_training_scores(scores: Sequence[float], env_id: str, ax: Axes | None = None) -> Axes:
    """
    B17: each learning episode's score in gray and the running mean, ``cumsum / episode
    number``, titled with the env id (the blog's ``plot_training_scores``; English labels).

    :param scores: the score (summed reward) of each learning episode, in order
    :param env_id: the title, e.g. ``"CartPole-v1"``
    :param ax: axes to draw on; a new 12x6 inch figure when None, as in the blog
    :return: the axes drawn on
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 6))
    values = np.asarray(scores, dtype=float)
    episodes = np.arange(len(values))
    ax.plot(episodes, values, color="gray", linewidth=1)
    ax.plot(episodes, np.cumsum(values) / (episodes + 1), label="mean")
    ax.legend()
    ax.set_xlabel("learning episode")
    ax.set_ylabel("score")
    ax.set_title(env_id)
    ax.margins(0.02)
    return ax
