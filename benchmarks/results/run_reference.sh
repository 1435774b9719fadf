#!/usr/bin/env bash
# The reference runs of benchmarks/results/, run from this folder, in stages ordered by
# priority (finished runs are skipped, so a stage re-lists earlier seeds harmlessly and a
# run cut short still has every config with its first seeds). Each stage writes the
# merged report (summary.md and the PNGs here).
set -u
cd "$(dirname "$0")"
PY=${PY:-python}
RUN="$PY -m sb3_blogdqn.compare --jobs 2 --no-progress --no-report"
REPORT="$PY -m sb3_blogdqn.compare report cartpole acrobot --out ."
stage() { echo "== $(date -u +%T) $*"; "$@"; $REPORT; }

# CartPole-v1: the four default configs, seeds 0-4; then the three main ones to 10 seeds.
stage $RUN --env CartPole-v1 --seeds 5 --out cartpole
stage $RUN --env CartPole-v1 --configs blogdqn dqn-zoo qrdqn-zoo --seeds 10 --out cartpole
# The ablation grid, 3 seeds (blogdqn's seeds are already done).
stage $RUN --env CartPole-v1 --configs blogdqn --ablate --seeds 3 --out cartpole
# Acrobot-v1, 5 seeds (evaluations every 5000 steps of the Zoo's 100k budget).
stage $RUN --env Acrobot-v1 --configs blogdqn dqn-zoo qrdqn-zoo --seeds 5 --eval-freq 5000 --out acrobot
# The ablation grid to 10 seeds per switch; then dqn-bloglike everywhere.
stage $RUN --env CartPole-v1 --configs blogdqn --ablate --seeds 10 --out cartpole
stage $RUN --env Acrobot-v1 --configs dqn-bloglike --seeds 5 --eval-freq 5000 --out acrobot
stage $RUN --env CartPole-v1 --configs dqn-bloglike --seeds 10 --out cartpole
# Stock DQN on the blog's inputs (history + frozen scaler, issue 13): inputs vs updates.
stage $RUN --env CartPole-v1 --configs dqn-bloglike-inputs --seeds 5 --out cartpole
echo "== $(date -u +%T) done"
