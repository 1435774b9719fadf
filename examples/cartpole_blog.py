"""The blog end to end: 400 learning episodes on CartPole-v1, its plot (B17), then one
greedy episode with the target network (B16) and a history padded at reset (B3).

    python examples/cartpole_blog.py [--seed 0] [--episodes 400] [--out cartpole_blog.png]
"""

import argparse
import time

from matplotlib import pyplot as plt  # picks a non-interactive backend by itself when there is no display
from stable_baselines3.common.callbacks import BaseCallback

from sb3_blogdqn import BlogDQN, StopTrainingOnMaxLearningEpisodes, make_blog_env
from sb3_blogdqn.common.plotting import plot_training_scores


class BlogProgress(BaseCallback):
    """Keeps each learning episode's score (B15) and prints a line every ``every`` episodes."""

    def __init__(self, every: int = 20) -> None:
        super().__init__()
        self.every, self.start = every, time.time()
        self.scores: list[float] = []

    def _init_callback(self) -> None:
        # Checked once here rather than on every step: the progress line reads BlogDQN's own attributes.
        if not isinstance(self.model, BlogDQN):
            raise TypeError(f"BlogProgress follows a BlogDQN, not a {type(self.model).__name__}")
        self.blogdqn: BlogDQN = self.model

    def _on_step(self) -> bool:
        if self.blogdqn.warming_up:  # the warm-up's random episodes are not learning episodes (B6)
            return True
        for info in self.locals["infos"]:
            if "episode" in info:
                self.scores.append(float(info["episode"]["r"]))
                if len(self.scores) % self.every == 0:
                    recent = self.scores[-self.every :]
                    print(
                        f"episode {len(self.scores):4d} | steps {self.num_timesteps:7d} | "
                        f"eps {self.blogdqn.exploration_rate:.4f} | mean of last {self.every}: "
                        f"{sum(recent) / len(recent):6.1f} | best {max(self.scores):5.1f} | "
                        f"{time.time() - self.start:6.1f} s",
                        flush=True,
                    )
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=400, help="learning episodes (the blog's n_episodes)")
    parser.add_argument("--out", default="cartpole_blog.png", help="where to save the B17 plot")
    args = parser.parse_args()

    # act_with_target: the blog deploys the target network (B16); learning is unaffected (B9).
    model = BlogDQN("MlpPolicy", args.env, seed=args.seed, act_with_target=True)
    progress = BlogProgress()
    print(f"Learning {args.episodes} episodes of {args.env} with the blog's DQN (seed {args.seed})", flush=True)
    model.learn(total_timesteps=10**8, callback=[progress, StopTrainingOnMaxLearningEpisodes(args.episodes)])

    running_mean = sum(progress.scores) / len(progress.scores)  # the B17 plot's last running-mean point
    print(f"{len(progress.scores)} learning episodes in {model.num_timesteps} env steps (the warm-up's included), "
          f"running mean of the scores {running_mean:.1f}", flush=True)
    plot_training_scores(progress.scores, args.env)
    plt.tight_layout()
    plt.savefig(args.out, dpi=100)
    print(f"Saved the learning curve (B17) to {args.out}")

    env = make_blog_env(args.env, seed=args.seed + 1000)  # history padded with the first state (B3)
    obs, score, done = env.reset(), 0.0, False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, dones, _ = env.step(action)
        score, done = score + float(reward[0]), bool(dones[0])
    print(f"{args.env} score: {score}")


if __name__ == "__main__":
    main()
