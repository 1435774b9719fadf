#!/usr/bin/env bash
# The MinAtar comparison (issue 33): the MinAtar entries of zoo_configs/blogdqn_tuned.yml against SB3's
# DQN and sb3-contrib's QR-DQN with the MinAtar paper's DQN settings (compare's dqn-minatar and
# qrdqn-minatar), 1M env steps, seeds 0-4, one folder per game. Run from this folder; one game per
# core (the two lines at once). Finished runs are skipped and a killed run resumes from its mid-run
# checkpoint (every 50,000 env steps), so the script resumes where it stopped.
# Evaluations: 10 deterministic episodes every 25,000 env steps.
set -u
cd "$(dirname "$0")"
PY=${PY:-python}
RUN="$PY -m sb3_blogdqn.compare --jobs 1 --no-progress --no-report --seeds 5 --eval-freq 25000 --checkpoint-freq 50000"
CONFIGS="dqn-minatar qrdqn-minatar blogdqn-tuned"
$RUN --env MinAtar/Breakout-v1 --configs $CONFIGS --out minatar-breakout &
$RUN --env MinAtar/SpaceInvaders-v1 --configs $CONFIGS --out minatar-spaceinvaders &
wait
$PY -m sb3_blogdqn.compare report minatar-breakout --out minatar-breakout
$PY -m sb3_blogdqn.compare report minatar-spaceinvaders --out minatar-spaceinvaders
