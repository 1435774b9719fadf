"""
The fused kernel's arithmetic rate against what one core of this machine reaches.

Counts the floating-point operations of one B11 replay (targets from Q̂, then one forward,
backward and Keras-Adam step per sample), times the kernel's ``replay_kernel`` on a model's
own replay memory after some learning, and sets two ceilings beside it, measured here and
now on one core: numba loops of the network's shapes (a 20x20 matrix-vector product, an
Adam step on 400 weights), and torch's float32 matrix product (the core's peak as a BLAS
reaches it). Times are CPU time of this thread (``time.thread_time``), the best of several
repeats, so that other jobs on a shared machine count as little as possible.

Run ``python benchmarks/kernel_flops.py --help`` for the options.
"""

import argparse
import itertools
import time

import numba
import numpy as np
import torch as th

from sb3_blogdqn import BlogDQN
from sb3_blogdqn.blogdqn.kernel import replay_kernel
from sb3_blogdqn.blogdqn.learning import KernelReplays


def replay_flops(sizes: list[int], batch_size: int, loss_on_all_actions: bool = True) -> dict[str, int]:
    """
    Floating-point operations of one per-sample replay (B10, B11) of the network ``sizes``
    (input, hidden..., actions), by part. A multiply-add counts 2, ``sqrt`` and division 1;
    ReLU, max and comparisons count 0.
    """
    pairs = list(itertools.pairwise(sizes))
    n_weights = sum(n_in * n_out for n_in, n_out in pairs)
    n_biases = sum(n_out for _, n_out in pairs)
    scale = 2 * sizes[0]  # (x - mean) / scale
    forward = 2 * n_weights + n_biases
    targets = (2 if loss_on_all_actions else 1) * (scale + forward) + 3  # r + (1 - done) γ max
    errors = 3 * (sizes[-1] if loss_on_all_actions else 1)  # q - y, its square, its gradient
    backward = sum(2 * n_in * n_out for n_in, n_out in pairs[1:])  # dx = Wᵀ dy, the input needs none
    weight_gradients = n_weights  # dy xᵀ; the biases' gradient is dy itself
    adam = 12 * (n_weights + n_biases)  # m: 3, v: 4, sqrt, +ε, /, ×step, +
    fit = scale + forward + errors + backward + weight_gradients + adam
    return dict(targets=batch_size * targets, fits=batch_size * fit, total=batch_size * (targets + fit),
                adam=batch_size * adam)


def best_seconds(run, repeats: int = 7) -> float:
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        run()
        best = min(best, time.thread_time() - start)
    return best


_jit = numba.njit(error_model="numpy", fastmath={"reassoc", "contract"})


@_jit
def _matvec_loop(n, weight, x, y):
    # The kernel's forward layer: one dot product per output row. Feeding y back into x keeps
    # the iterations dependent, as the kernel's layers are.
    n_out, n_in = weight.shape
    for _ in range(n):
        for o in range(n_out):
            total = np.float32(0.0)
            for i in range(n_in):
                total += weight[o, i] * x[i]
            y[o] = total
        x[0] = y[0] * np.float32(1e-3)


@_jit
def _adam_loop(n, param, grad, m, v):
    for _ in range(n):
        for j in range(len(param)):
            g = grad[j]
            m_j = m[j] * np.float32(0.9) + np.float32(0.1) * g
            v_j = v[j] * np.float32(0.999) + np.float32(0.001) * g * g
            m[j] = m_j
            v[j] = v_j
            param[j] = param[j] + np.float32(-1e-3) * (m_j / (np.sqrt(v_j) + np.float32(1e-7)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learn-steps", type=int, default=3000, help="env steps of learning before timing")
    parser.add_argument("--replays", type=int, default=1000, help="replays per timing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    th.set_num_threads(1)

    model = BlogDQN("MlpPolicy", "CartPole-v1", seed=args.seed)
    model.learn(args.learn_steps)
    replays, buffer = model._replays, model.replay_buffer
    assert isinstance(replays, KernelReplays), "the kernel serves this model (CartPole-v1's MLP on the CPU)"
    replays._bind()
    sizes = [int(s) for s in replays.online.sizes]
    flops = replay_flops(sizes, model.batch_size)
    indices = np.stack([buffer.sample_indices(model.batch_size) for _ in range(args.replays)])
    memory, settings = replays._memory(buffer), replays.settings(model.gamma)

    def run(rows: np.ndarray) -> None:  # the compiled replays, as KernelReplays.replay calls them
        losses = np.zeros((len(rows), model.batch_size))
        replays._run(replay_kernel, rows, memory, replays.online, replays.target, replays.adam, settings, losses)

    def replays_in_one_call():
        run(indices)

    def replays_one_call_each():  # as BlogDQN.train calls it, once per env step
        for k in range(args.replays):
            run(indices[k : k + 1])

    in_one = best_seconds(replays_in_one_call) / args.replays
    each = best_seconds(replays_one_call_each) / args.replays
    print(f"network {sizes}, minibatch {model.batch_size}: {flops['total']:,} flops per replay "
          f"(targets {flops['targets']:,}, fits {flops['fits']:,} of which Adam {flops['adam']:,})")
    print(f"kernel, {args.replays} replays in one call: {in_one * 1e6:.1f} µs per replay, "
          f"{flops['total'] / in_one / 1e9:.1f} GFLOP/s")
    print(f"kernel, one call per replay (as train() does): {each * 1e6:.1f} µs per replay, "
          f"{flops['total'] / each / 1e9:.1f} GFLOP/s")

    rng = np.random.default_rng(args.seed)
    n = 100_000
    weight = rng.standard_normal((20, 20)).astype(np.float32)
    x, y = rng.standard_normal(20).astype(np.float32), np.zeros(20, np.float32)
    matvec = best_seconds(lambda: _matvec_loop(n, weight, x, y)) / n
    param, grad, m, v = (np.full(400, 0.01, np.float32) for _ in range(4))
    adam = best_seconds(lambda: _adam_loop(n, param, grad, m, v)) / n
    a = th.randn(2048, 2048)
    matmul = best_seconds(lambda: a @ a, repeats=5)
    print(f"ceiling, numba 20x20 mat-vec: {matvec * 1e9:.0f} ns, {800 / matvec / 1e9:.1f} GFLOP/s")
    print(f"ceiling, numba Keras-Adam step on 400 weights: {adam * 1e9:.0f} ns, {12 * 400 / adam / 1e9:.1f} GFLOP/s")
    print(f"ceiling, torch float32 2048x2048 matmul, 1 thread: {2 * 2048**3 / matmul / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
