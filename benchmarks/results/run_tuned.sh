#!/usr/bin/env bash
# The tuned-preset comparison (zoo_configs/blogdqn_tuned.yml against the Zoo's DQN and QR-DQN),
# run from this folder after the studies in ../tuning/ chose each env's entry (see
# ../tuning/README.md). Finished runs are skipped, so the script resumes where it stopped.
# Evaluations: 10 deterministic episodes every 2,500 env steps on CartPole-v1 (as the earlier
# runs in cartpole/), every 5,000 on the other envs.
set -u
cd "$(dirname "$0")"
PY=${PY:-python}
RUN="$PY -m sb3_blogdqn.compare --jobs 1 --no-progress --no-report"
stage() { echo "== $(date -u +%T) $*"; "$@"; }

# The anchors: the RL Zoo's tuned DQN and QR-DQN (CartPole-v1's 10 seeds ran earlier, run_reference.sh).
stage $RUN --env MountainCar-v0 --configs dqn-zoo qrdqn-zoo --seeds 5 --eval-freq 5000 --out mountaincar
stage $RUN --env Acrobot-v1 --configs dqn-zoo qrdqn-zoo --seeds 10 --eval-freq 5000 --out acrobot
# LunarLander-v3's anchors (a QR-DQN run with the Zoo's 170 quantiles trains for about two hours here).
stage $RUN --env LunarLander-v3 --configs dqn-zoo qrdqn-zoo --seeds 5 --eval-freq 5000 --out lunarlander
# The tuned preset, each env's entry with its budget.
stage $RUN --env CartPole-v1 --configs blogdqn-tuned --seeds 10 --out cartpole
# Acrobot-v1: two runs at a time (--jobs 2) whenever its entry changed (trials 17, 18, 19, 20 and 21).
stage $RUN --env Acrobot-v1 --configs blogdqn-tuned --seeds 10 --eval-freq 5000 --out acrobot
# LunarLander-v3: two runs at a time (--jobs 2) when its entry became trial 4.
stage $RUN --env LunarLander-v3 --configs blogdqn-tuned --seeds 5 --eval-freq 5000 --out lunarlander
# MountainCar-v0: two runs at a time (--jobs 2) when its entry became trial 6.
stage $RUN --env MountainCar-v0 --configs blogdqn-tuned --seeds 5 --eval-freq 5000 --out mountaincar
# MountainCar-v0's entry and both anchors extended to 10 seeds (seeds 5-9; two runs at a time).
stage $RUN --env MountainCar-v0 --configs blogdqn-tuned dqn-zoo qrdqn-zoo --seeds 10 --eval-freq 5000 --out mountaincar
# LunarLander-v3's entry and dqn-zoo extended to 10 seeds (seeds 5-9; two runs at a time); qrdqn-zoo's
# two-hour runs stay at the first stage's seeds.
stage $RUN --env LunarLander-v3 --configs blogdqn-tuned dqn-zoo --seeds 10 --eval-freq 5000 --out lunarlander
# LunarLander-v3's entry became trial 5 (gradient clipping), then trial 6 (unscaled inputs): each time its 10 seeds
# at once (two at a time, --jobs 2).
stage $RUN --env LunarLander-v3 --configs blogdqn-tuned --seeds 10 --eval-freq 5000 --out lunarlander
stage $PY -m sb3_blogdqn.compare report cartpole acrobot mountaincar lunarlander --out .
echo "== $(date -u +%T) done"
