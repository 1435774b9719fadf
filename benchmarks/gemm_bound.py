"""
How much a GEMM path could save on a wide preset: the fused kernel's replay against the dense matrix
products of the same replay in torch (BLAS), on one thread.

For ``blogdqn-tuned`` on Acrobot-v1 (24-256-256-75: B1's 4-state history, 25 quantiles of 3 actions;
minibatches of 128), both in CPU µs per replay, alternating, median of ``--rounds``:

- **kernel**: ``KernelReplays.replay`` on the model's own memory after its warm-up, ``--replays``
  replays in one call (its compute, without the Python call per replay): the targets' forward pass,
  then the minibatch's fit (forward, backward, gradients, Adam);
- **dense products**: torch's matrix products of one replay on the model's own weights: the target
  network's forward pass, the online network's, and the backward pass (each layer's weight gradient,
  and the input gradient of every layer but the first), with the ReLUs. Only the products: the loss,
  Adam's step on every parameter and the minibatch's gather would come on top, so this is a lower
  bound on a GEMM path's replay, which would also round its sums in BLAS's order, not the kernel's.

    python benchmarks/gemm_bound.py
"""

import argparse
import os
import statistics
import sys
import time
import warnings

import torch as th
from preset_speed import make_model

from sb3_blogdqn import BlogDQN
from sb3_blogdqn.blogdqn.learning import KernelReplays


def linear_layers(network: th.nn.Module) -> list[th.nn.Linear]:
    return [module for module in network.modules() if isinstance(module, th.nn.Linear)]


def dense_products(online: list[th.nn.Linear], target: list[th.nn.Linear], batch_size: int) -> None:
    """One replay's matrix products (and ReLUs), without autograd: forward x2, then the backward pass."""
    x = th.randn(batch_size, online[0].in_features)
    h = x
    for i, layer in enumerate(target):
        h = h @ layer.weight.T
        if i < len(target) - 1:
            h = th.relu(h)
    acts = [x]
    for i, layer in enumerate(online):
        h = acts[-1] @ layer.weight.T
        acts.append(th.relu(h) if i < len(online) - 1 else h)
    delta = th.randn(batch_size, online[-1].out_features)
    for i in range(len(online) - 1, -1, -1):
        _weight_gradient = delta.T @ acts[i]
        if i > 0:
            delta = (delta @ online[i].weight) * (acts[i] > 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--replays", type=int, default=200, help="replays per measurement of each")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    th.set_num_threads(1)
    warnings.filterwarnings("ignore")
    model, _ = make_model("blogdqn-tuned", "Acrobot-v1", args.seed)
    assert isinstance(model, BlogDQN)
    model.learn(max(model.warmup_size, 1) + 500)
    replays = model._replays
    assert isinstance(replays, KernelReplays), "the tuned Acrobot-v1 preset runs on the kernel"
    with th.no_grad():
        online = linear_layers(model.policy.q_net)
        target = linear_layers(model.policy.q_net_target)
        shapes = [layer.in_features for layer in online] + [online[-1].out_features]

        def kernel() -> None:
            replays.replay(model.replay_buffer, args.replays, model.batch_size, model.gamma)

        def dense() -> None:
            for _ in range(args.replays):
                dense_products(online, target, model.batch_size)

        kernel()  # compiled, bound, warm
        dense()
        times: dict[str, list[float]] = {"kernel": [], "dense products": []}
        for _ in range(args.rounds):
            for name, run in (("kernel", kernel), ("dense products", dense)):
                start = time.process_time()
                run()
                times[name].append(1e6 * (time.process_time() - start) / args.replays)
    print(f"python {sys.version.split()[0]}, torch {th.__version__} (1 thread), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"command: python benchmarks/gemm_bound.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"network {shapes}, minibatch {model.batch_size}; CPU µs per replay, median of {args.rounds} "
          f"(all rounds)")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"  {name}: {medians[name]:,.0f} ({', '.join(f'{v:,.0f}' for v in values)})")
    print(f"dense products / kernel replay: {medians['dense products'] / medians['kernel']:.2f}")


if __name__ == "__main__":
    main()
