#!/usr/bin/env bash
# Atari at the 100k budget (issue 33: a reported result, not a target): BlogDQN with the blog's settings
# on the RL Zoo's Atari frames (blogdqn-atari100k) against SB3's DQN with the Zoo's Atari hyperparameters
# on the same schedule (dqn-atari100k), BreakoutNoFrameskip-v4, 100,000 agent steps, seeds 0-2.
# Run from this folder. Finished runs are skipped and a killed run resumes from its mid-run checkpoint.
# Evaluations: 10 deterministic episodes (full games) every 25,000 agent steps.
set -u
cd "$(dirname "$0")"
PY=${PY:-python}
$PY -m sb3_blogdqn.compare --jobs 1 --no-progress --no-report --seeds 3 --eval-freq 25000 --checkpoint-freq 25000 \
  --env BreakoutNoFrameskip-v4 --configs dqn-atari100k blogdqn-atari100k --out atari100k-breakout
$PY -m sb3_blogdqn.compare report atari100k-breakout --out atari100k-breakout
