#!/usr/bin/env bash
# The MinAtar comparison (issue 33): the MinAtar entries of zoo_configs/blogdqn_tuned.yml against SB3's
# DQN and sb3-contrib's QR-DQN with the MinAtar paper's DQN settings (compare's dqn-minatar and
# qrdqn-minatar), 1M env steps, seeds 0-4, one folder per game. Run from this folder.
#
# Two workers (one per core) walk the same list: Breakout first, seed by seed, each seed's three
# configurations together, so that an unfinished sweep still holds paired runs. A worker skips the run
# that the other one holds (compare's run lock) and finished runs (their result.json), and a killed run
# resumes from its mid-run checkpoint (every 50,000 env steps): the script resumes where it stopped.
# Evaluations: 10 deterministic episodes every 25,000 env steps.
set -u
cd "$(dirname "$0")"
PY=${PY:-python}
RUN="$PY -m sb3_blogdqn.compare --jobs 1 --no-progress --no-report --eval-freq 25000 --checkpoint-freq 50000"
CONFIGS="blogdqn-tuned dqn-minatar qrdqn-minatar"
worker() {
  for game in Breakout SpaceInvaders; do
    out="minatar-$(echo "$game" | tr '[:upper:]' '[:lower:]')"
    for seed in 0 1 2 3 4; do
      $RUN --env "MinAtar/$game-v1" --configs $CONFIGS --seed-start "$seed" --seeds 1 --out "$out"
    done
  done
}
worker & sleep 60; worker &
wait
$PY -m sb3_blogdqn.compare report minatar-breakout --out minatar-breakout
$PY -m sb3_blogdqn.compare report minatar-spaceinvaders --out minatar-spaceinvaders
