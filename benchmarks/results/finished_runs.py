"""
The finished runs of a comparison folder that is still running, one line each, as a Markdown table.

``python -m sb3_blogdqn.compare report`` summarizes a folder once every seed has run; until then this
lists where the sweep stands, each line read from one run's ``result.json``: the final evaluation is the
mean of ``evaluations.returns[-1]`` (the evaluation episodes at the run's last evaluation), steps/s is
``steps_per_second``, and a run resumed from a checkpoint says from which env step. Run from this folder:

    python finished_runs.py minatar-breakout
"""

import argparse
import json
from pathlib import Path


def rows(folder: Path) -> list[tuple[int, str, float, str]]:
    found = []
    for path in sorted(folder.glob("*/**/result.json")):
        result = json.loads(path.read_text())
        final = result["evaluations"]["returns"][-1]
        speed = f"{result['steps_per_second']:.0f}"
        if result.get("resumed_at"):
            speed += f" (resumed at {', '.join(f'{step:,}' for step in result['resumed_at'])})"
        found.append((int(result["seed"]), result["spec"]["config"], sum(final) / len(final), speed))
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a compare --out folder")
    args = parser.parse_args()
    found = rows(args.folder)
    if not found:
        raise SystemExit(f"{args.folder}: no result.json below it; is it a compare --out folder?")
    print("| seed | config | final evaluation | steps/s |\n|---|---|---:|---:|")
    for seed, config, final, speed in found:
        print(f"| {seed} | `{config}` | {final:.1f} | {speed} |")


if __name__ == "__main__":
    main()
