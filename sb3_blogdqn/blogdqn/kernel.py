"""
The fused CPU kernel: BlogDQN's replays (B7, B10-B12) and greedy actions (B9) compiled by numba.

The blog fits each minibatch one sample at a time (B11): 32 forward passes, backward passes
and Adam steps per environment step, on a network of about a thousand weights. Done with
torch, the per-call overhead dominates; here numba compiles the whole replay (TD targets from
Q̂, then the fits) into one loop. It computes what the reference path (``learning.py``, on the
:class:`~sb3_blogdqn.blogdqn.objectives.TDObjective`) computes, to float rounding, which
``tests/test_kernel.py`` checks one replay step at a time, and works in place on numpy views of
the torch parameters, the scaler buffers and the Adam state, so ``predict``, callbacks and
save/load see the kernel's updates as if torch had made them.

The network is the one :class:`BlogDQNPolicy` builds: a :class:`StandardScalerExtractor`, then
``Linear`` layers with ``ReLU`` between them and a linear head, any widths, with one Q-value per
action or ``n_quantiles`` values per action (a :class:`QuantileQNetwork`: quantile ``j`` of
action ``a`` at head output ``j * n_actions + a``, as sb3-contrib lays them out). Arithmetic is
float32 in the order torch uses, so the two paths agree to float rounding.

The compiled functions take their inputs as four records (namedtuples, which numba compiles to
structs): a :class:`Network` (one Q network's weights and scaler), its :class:`AdamState`, the
replay :class:`Memory`, and the :class:`Settings` of the objective and the optimizer; a
:class:`Workspace` holds the scratch arrays.
"""

from collections.abc import Sequence
from typing import NamedTuple

import numba
import numpy as np
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.dqn.policies import QNetwork
from torch import nn

from sb3_blogdqn.blogdqn.objectives import Huber, QuantileHuber, SquaredError
from sb3_blogdqn.blogdqn.policies import BlogDQNPolicy, QuantileQNetwork, StandardScalerExtractor
from sb3_blogdqn.common.buffers import HistoryReplayBuffer, NStepHistoryReplayBuffer
from sb3_blogdqn.common.optim import KerasAdam

# The objectives' loss codes, frozen into the compiled code as constants.
SQUARED_ERROR, HUBER, QUANTILE_HUBER = SquaredError.code, Huber.code, QuantileHuber.code

# error_model="numpy": IEEE division (inf/NaN) instead of a ZeroDivisionError check per division.
# Reassociation lets LLVM vectorize the dot products; the sums then round in another order
# than torch's (which has its own, BLAS-dependent one): a difference of float rounding only.
_jit = numba.njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
# The small helpers called once per layer and sample, inlined into their callers by numba:
# a call passes each array as a struct and counts references, more than their loops cost.
_inline = numba.njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"}, inline="always")
# The minibatch loops that sum several products into each element per pass: without
# reassociation, each element's sum keeps the one-product-per-pass order of the plain loops
# they stand for, so they compute those loops' numbers to the bit, only with fewer loads and stores.
_ordered = numba.njit(cache=True, error_model="numpy", fastmath={"contract"})


class Network(NamedTuple):
    """One Q network as the kernel reads it: numpy views of the torch tensors, shared with them."""

    params: tuple[np.ndarray, ...]
    """``(W1, b1, W2, b2, ...)`` flat float32, each ``W`` row-major ``(out, in)`` as in ``nn.Linear``."""
    mean: np.ndarray
    scale: np.ndarray
    """The StandardScaler input layer (B4): ``(x - mean) / scale``."""
    sizes: np.ndarray
    """Input, hidden..., head outputs."""
    n_quantiles: int
    """0: a head of Q-values; else quantiles per action (Q is their mean)."""


class AdamState(NamedTuple):
    """Adam's moments and step counts, one flat array per parameter, views of the optimizer's state."""

    exp_avg: tuple[np.ndarray, ...]
    exp_avg_sq: tuple[np.ndarray, ...]
    steps: tuple[np.ndarray, ...]


class Memory(NamedTuple):
    """The replay memory's arrays, one row per transition (B5)."""

    observations: np.ndarray
    next_observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    timeouts: np.ndarray
    n_steps: int
    """Rewards summed per return; 1: the blog's one-step targets (B10)."""
    newest: int
    """The newest row: n-step returns stop there (the next row is an older episode)."""


class Settings(NamedTuple):
    """What a replay computes: the objective's codes (:meth:`TDObjective.codes`), B11, clipping, Adam."""

    loss: int
    all_actions: bool
    double_q: bool
    per_sample: bool
    max_grad_norm: float
    gamma: float
    lr: float
    beta1: float
    beta2: float
    eps: float
    torch_adam: bool
    """torch's Adam adds ``eps`` after the bias correction, Keras' before it (B12)."""


class Workspace(NamedTuple):
    """Scratch arrays of the replays of one minibatch size (one row or column per sample)."""

    offsets: np.ndarray
    grad_offsets: np.ndarray
    acts: np.ndarray
    deltas: np.ndarray
    columns: np.ndarray
    grad: np.ndarray
    targets: np.ndarray
    actions: np.ndarray
    next_actions: np.ndarray
    returns: np.ndarray
    discounts: np.ndarray
    next_rows: np.ndarray


@_jit
def _workspace(network, batch_size):
    """
    Scratch arrays for minibatches of ``batch_size`` (allocated here: cheaper than passing them in).
    One sample's activations live in one row of ``acts``: the scaled input, then each layer's
    output after its ReLU (the head has none); ``offsets`` locate them. ``grad`` holds every
    parameter's gradient, parameter ``p`` (W1, b1, W2, b2, ...) from ``grad_offsets[p]`` to ``grad_offsets[p + 1]``.
    """
    sizes = network.sizes
    n_layers = len(sizes) - 1
    offsets = np.zeros(n_layers + 2, np.int64)
    for layer in range(n_layers + 1):
        offsets[layer + 1] = offsets[layer] + sizes[layer]
    grad_offsets = np.zeros(2 * n_layers + 1, np.int64)
    for layer in range(n_layers):
        grad_offsets[2 * layer + 1] = grad_offsets[2 * layer] + sizes[layer + 1] * sizes[layer]
        grad_offsets[2 * layer + 2] = grad_offsets[2 * layer + 1] + sizes[layer + 1]
    n_targets = max(_n_actions(network), network.n_quantiles)
    return Workspace(
        offsets, grad_offsets, np.empty((batch_size, offsets[-1]), np.float32),
        np.empty((batch_size, offsets[-1]), np.float32), np.empty((offsets[-1], batch_size), np.float32),
        np.empty(grad_offsets[-1], np.float32), np.empty((batch_size, n_targets), np.float32),
        np.empty(batch_size, np.int64), np.zeros(batch_size, np.int64), np.empty(batch_size, np.float32),
        np.empty(batch_size, np.float32), np.empty(batch_size, np.int64),
    )


# --------------------------------------------------------------------------- forward


@_inline
def _scale_into(observation, mean, scale, row):
    """The StandardScaler input layer (B4): ``(x - mean) / scale``."""
    for i in range(len(observation)):
        row[i] = (observation[i] - mean[i]) / scale[i]


@_jit
def _forward(params, sizes, offsets, row):
    """Fill ``row``'s layer outputs from its scaled input (``params``, ``sizes``: a :class:`Network`'s); return the head."""
    n_layers = len(sizes) - 1
    for layer in range(n_layers):
        weight = params[2 * layer]
        bias = params[2 * layer + 1]
        n_in = sizes[layer]
        # Slices, so that indices are provably non-negative and the loops compile tight.
        x = row[offsets[layer] : offsets[layer + 1]]
        y = row[offsets[layer + 1] : offsets[layer + 2]]
        for o in range(sizes[layer + 1]):
            w = weight[o * n_in : (o + 1) * n_in]
            total = np.float32(0.0)
            for i in range(n_in):
                total += w[i] * x[i]
            total += bias[o]
            if layer < n_layers - 1 and total < 0:
                total = np.float32(0.0)
            y[o] = total
    return offsets[n_layers]


@_ordered
def _forward_columns(network, offsets, columns):
    """
    :func:`_forward` for a whole minibatch at once, one sample per column of ``columns``
    (rows: the activations). The innermost loop runs along the minibatch, contiguous and
    without a reduction, so it vectorizes fully; used for the targets, which Q̂ computes
    for all samples before any fit (B10). Each element is summed in the order of the inputs,
    from zero, then the bias added: the order of one product per pass over the minibatch;
    the passes add four inputs' products into four outputs (:func:`_add_products_4x4`).
    """
    sizes, params = network.sizes, network.params
    n_layers = len(sizes) - 1
    for layer in range(n_layers):
        weight = params[2 * layer]
        bias = params[2 * layer + 1]
        n_in, n_out = sizes[layer], sizes[layer + 1]
        x = columns[offsets[layer] : offsets[layer + 1]]
        y = columns[offsets[layer + 1] : offsets[layer + 2]]
        y[:] = 0.0
        blocked = n_out - n_out % 4
        for o in range(0, blocked, 4):
            _add_products_4x4(weight[o * n_in : (o + 4) * n_in], n_in, x, y[o], y[o + 1], y[o + 2], y[o + 3])
        for o in range(blocked, n_out):
            y_o, w = y[o], weight[o * n_in : (o + 1) * n_in]
            for i in range(n_in):
                w_i, x_i = w[i], x[i]
                for c in range(len(y_o)):
                    y_o[c] = y_o[c] + w_i * x_i[c]
        for o in range(n_out):
            y_o, b = y[o], bias[o]
            for c in range(len(y_o)):
                total = y_o[c] + b
                if layer < n_layers - 1 and total < 0:
                    total = np.float32(0.0)
                y_o[c] = total


@_ordered
def _add_products_4x4(weight, n_in, x, y0, y1, y2, y3):
    """
    ``y_k += Σ_i weight[k, i] x[i]`` for four outputs ``k`` (``weight``: their rows), the inputs
    ``i`` one after the other, four per pass: sixteen weights held in registers, each column of
    ``x`` loaded once for four outputs, each ``y`` loaded and stored once for four inputs.
    """
    w0, w1, w2, w3 = weight[:n_in], weight[n_in : 2 * n_in], weight[2 * n_in : 3 * n_in], weight[3 * n_in :]
    blocked = n_in - n_in % 4
    for i in range(0, blocked, 4):
        xa, xb, xc, xd = x[i], x[i + 1], x[i + 2], x[i + 3]
        a0, b0, c0, d0 = w0[i], w0[i + 1], w0[i + 2], w0[i + 3]
        a1, b1, c1, d1 = w1[i], w1[i + 1], w1[i + 2], w1[i + 3]
        a2, b2, c2, d2 = w2[i], w2[i + 1], w2[i + 2], w2[i + 3]
        a3, b3, c3, d3 = w3[i], w3[i + 1], w3[i + 2], w3[i + 3]
        for c in range(len(y0)):
            va, vb, vc, vd = xa[c], xb[c], xc[c], xd[c]
            y0[c] = (((y0[c] + a0 * va) + b0 * vb) + c0 * vc) + d0 * vd
            y1[c] = (((y1[c] + a1 * va) + b1 * vb) + c1 * vc) + d1 * vd
            y2[c] = (((y2[c] + a2 * va) + b2 * vb) + c2 * vc) + d2 * vd
            y3[c] = (((y3[c] + a3 * va) + b3 * vb) + c3 * vc) + d3 * vd
    for i in range(blocked, n_in):
        xa, a0, a1, a2, a3 = x[i], w0[i], w1[i], w2[i], w3[i]
        for c in range(len(y0)):
            va = xa[c]
            y0[c] = y0[c] + a0 * va
            y1[c] = y1[c] + a1 * va
            y2[c] = y2[c] + a2 * va
            y3[c] = y3[c] + a3 * va


@_inline
def _forward_rows(states, rows, network, offsets, columns):
    """:func:`_forward_columns` on the memory rows ``rows`` of ``states``, scaled (B4) into the columns."""
    mean, scale = network.mean, network.scale
    for r in range(len(rows)):
        j = rows[r]
        for i in range(len(mean)):
            columns[i, r] = (states[j, i] - mean[i]) / scale[i]
    _forward_columns(network, offsets, columns)


@_inline
def _q_value(head_outputs, action, n_actions, n_quantiles):
    """Q(s, a) from the head's outputs (any 1-D view): the output itself, or the mean of its quantiles."""
    if n_quantiles == 0:
        return head_outputs[action]
    total = np.float32(0.0)
    for j in range(n_quantiles):
        total += head_outputs[j * n_actions + action]
    return total / np.float32(n_quantiles)


@_inline
def _greedy(head_outputs, n_actions, n_quantiles):
    """argmax_a Q(s, a) from the head's outputs; ties go to the first action, as torch's argmax."""
    best = 0
    best_q = _q_value(head_outputs, 0, n_actions, n_quantiles)
    for a in range(1, n_actions):
        q = _q_value(head_outputs, a, n_actions, n_quantiles)
        if q > best_q:
            best, best_q = a, q
    return best


@_inline
def _n_actions(network):
    return network.sizes[len(network.sizes) - 1] // max(network.n_quantiles, 1)


# --------------------------------------------------------------------------- targets (B10)


@_inline
def _n_step_return(row, rewards, dones, timeouts, n_steps, newest, gamma):
    """
    The return from memory row ``row`` and where to bootstrap: ``(G, γ^m, last row)``, ``G``
    the discounted rewards of the ``m <= n_steps`` rows up to the first done or time-limit
    cut, or the ``newest`` row (the row after it is an older episode), as SB3's
    ``NStepReplayBuffer._get_samples`` computes them. With ``n_steps`` 1: ``(r, γ, row)`` (B10).
    """
    n_rows = len(rewards)
    total = np.float32(0.0)
    discount = np.float32(1.0)
    last = row
    for m in range(n_steps):
        last = (row + m) % n_rows
        total += discount * rewards[last]
        discount *= gamma
        if dones[last] != 0 or timeouts[last] != 0 or last == newest:
            break
    return total, discount, last


@_inline
def _td_targets(rows, memory, online, target, settings, work):
    """
    :meth:`TDObjective.targets` for the memory rows ``rows`` into ``work.targets`` (and the taken
    actions into ``work.actions``): ``r + γ^m Q̂(s', a*)``, ``r`` alone when done (a time-limit
    cut counts as done unless the memory marked it as a timeout, B14); ``a*`` greedy for Q̂, or
    for Q with ``double_q``; one per quantile of Q̂ at ``a*`` with a quantile head; with
    ``all_actions``, Q̂(s) with the taken action's entry replaced.
    """
    # The records' arrays read once: each read counts a reference.
    offsets, columns, targets = work.offsets, work.columns, work.targets
    actions, next_actions, returns, discounts, next_rows = (work.actions, work.next_actions, work.returns,
                                                            work.discounts, work.next_rows)
    rewards, dones, timeouts = memory.rewards, memory.dones, memory.timeouts
    n_actions, n_quantiles = _n_actions(target), target.n_quantiles
    head = offsets[len(target.sizes) - 1]
    gamma = np.float32(settings.gamma)
    one = np.float32(1.0)
    for r in range(len(rows)):
        returns[r], discounts[r], next_rows[r] = _n_step_return(rows[r], rewards, dones, timeouts, memory.n_steps,
                                                                memory.newest, gamma)
    if settings.double_q:
        _forward_rows(memory.next_observations, next_rows, online, offsets, columns)
        for r in range(len(rows)):
            next_actions[r] = _greedy(columns[head:, r], n_actions, n_quantiles)
    _forward_rows(memory.next_observations, next_rows, target, offsets, columns)
    memory_actions = memory.actions
    for r in range(len(rows)):
        actions[r] = memory_actions[rows[r]]
        if not settings.double_q:
            next_actions[r] = _greedy(columns[head:, r], n_actions, n_quantiles)
        last = next_rows[r]
        bootstrap = (one - dones[last] * (one - timeouts[last])) * discounts[r]
        if n_quantiles == 0:
            targets[r, 0] = returns[r] + bootstrap * columns[head + next_actions[r], r]
        for j in range(n_quantiles):
            targets[r, j] = returns[r] + bootstrap * columns[head + j * n_actions + next_actions[r], r]
    if settings.all_actions:
        _forward_rows(memory.observations, rows, target, offsets, columns)
        for r in range(len(rows)):
            td_target = targets[r, 0]
            for a in range(n_actions):
                targets[r, a] = columns[head + a, r]
            targets[r, actions[r]] = td_target


# --------------------------------------------------------------------------- the loss


@_inline
def _loss_term(error, loss):
    """
    One term of an elementwise loss and its derivative, by the objective's loss code:
    ``error²`` and ``2 error`` (:class:`SquaredError`, B10), or Huber's ``error² / 2`` and
    ``error`` within 1 of the target, ``|error| - 1/2`` and ``±1`` beyond (:class:`Huber`,
    also the quantile loss's κ = 1 Huber). ``error`` is the estimate minus its target.
    """
    if loss == SQUARED_ERROR:
        return error * error, np.float32(2.0) * error
    if abs(error) < 1.0:
        return np.float32(0.5) * error * error, error
    if error > 0:
        return error - np.float32(0.5), np.float32(1.0)
    return -error - np.float32(0.5), np.float32(-1.0)


@_inline
def _quantile_gradient(q, target, action, n_actions, n_quantiles, norm, dq):
    """
    :class:`QuantileHuber` between the taken action's quantiles in ``q`` and the ``n_quantiles``
    TD targets: ``Σ_i Σ_j |τ_i - [u_ij < 0]| huber(u_ij)``, ``u_ij = target_j - q_i``,
    ``τ_i = (i + 1/2) / n_quantiles``; gradient into ``dq`` times ``norm``. Returns the summed terms.
    """
    dq[:] = 0.0
    loss = 0.0
    for i in range(n_quantiles):
        tau = np.float32((i + 0.5) / n_quantiles)
        q_i = q[i * n_actions + action]
        derivative_sum = np.float32(0.0)
        for j in range(n_quantiles):
            term, derivative = _loss_term(q_i - target[j], HUBER)  # huber(u) and -huber'(u)
            weight = abs(tau - np.float32(1.0)) if target[j] < q_i else tau
            loss += weight * term
            derivative_sum += weight * derivative
        dq[i * n_actions + action] = derivative_sum * norm
    return loss


@_inline
def _n_loss_terms(network, settings):
    """The terms one sample adds to the mean the loss is: per quantile, per action (B10) or one."""
    if settings.loss == QUANTILE_HUBER:
        return network.n_quantiles
    return network.sizes[len(network.sizes) - 1] if settings.all_actions else 1


@_inline
def _output_gradient(q, target, action, n_actions, n_quantiles, settings, norm, dq):
    """The loss's gradient at the head into ``dq`` (each term's derivative times ``norm``); return the summed terms."""
    if settings.loss == QUANTILE_HUBER:
        return _quantile_gradient(q, target, action, n_actions, n_quantiles, norm, dq)
    loss = 0.0
    if settings.all_actions:
        for a in range(len(q)):
            term, derivative = _loss_term(q[a] - target[a], settings.loss)
            loss += term
            dq[a] = derivative * norm
    else:
        dq[:] = 0.0
        term, derivative = _loss_term(q[action] - target[0], settings.loss)
        loss += term
        dq[action] = derivative * norm
    return loss


# --------------------------------------------------------------------------- backward and Adam (B12)


@_inline
def _backward_layer(weight, n_in, n_out, x, dy, dx):
    """The gradient at a hidden layer's pre-activation from the next one's, through ``weight`` and ReLU."""
    dx[:] = 0.0
    for o in range(n_out):
        d = dy[o]
        w = weight[o * n_in : (o + 1) * n_in]
        for i in range(n_in):
            dx[i] += w[i] * d
    for i in range(n_in):
        if x[i] <= 0:  # ReLU's gradient, as torch's: zero where the output is zero
            dx[i] = 0.0


@_ordered
def _add_scaled_rows(out, rows, start, scales, picked, n):
    """
    ``out += scales[k] * rows[picked[k], start:]`` for ``k < n``, one ``k`` after the other,
    four per pass over ``out`` (a quarter of the loads and stores of one per pass): the
    minibatch's matrix products, each element summed in the order of ``k``.
    """
    k = 0
    while k + 4 <= n:
        x0, x1, x2, x3 = rows[picked[k], start:], rows[picked[k + 1], start:], rows[picked[k + 2], start:], \
            rows[picked[k + 3], start:]
        s0, s1, s2, s3 = scales[k], scales[k + 1], scales[k + 2], scales[k + 3]
        for i in range(len(out)):
            out[i] = (((out[i] + s0 * x0[i]) + s1 * x1[i]) + s2 * x2[i]) + s3 * x3[i]
        k += 4
    while k < n:
        x0, s0 = rows[picked[k], start:], scales[k]
        for i in range(len(out)):
            out[i] = out[i] + s0 * x0[i]
        k += 1


@_ordered
def _backward_rows(params, sizes, offsets, acts, deltas, skip_zeros):
    """
    :func:`_backward_layer` for every row of ``acts``: from the loss gradient at the head (in
    ``deltas``), the gradient at every hidden layer, with the forward's weights. With
    ``skip_zeros`` the outputs whose gradient is zero (a ReLU off, an action not taken) are
    left out: each adds ``w * 0``, nothing, when the weights are finite.
    """
    picked = np.empty(sizes.max(), np.int64)
    scales = np.empty(sizes.max(), np.float32)
    for layer in range(len(sizes) - 2, 0, -1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        weight = params[2 * layer].reshape(n_out, n_in)
        for r in range(acts.shape[0]):
            dy = deltas[r, offsets[layer + 1] : offsets[layer + 2]]
            n = 0
            for o in range(n_out):  # without a branch: the zeros come unpredictably
                picked[n] = o
                scales[n] = dy[o]
                n += (dy[o] != 0) or not skip_zeros
            dx = deltas[r, offsets[layer] : offsets[layer + 1]]
            dx[:] = 0.0
            _add_scaled_rows(dx, weight, 0, scales, picked, n)
            x = acts[r, offsets[layer] : offsets[layer + 1]]
            for i in range(n_in):
                if x[i] <= 0:  # ReLU's gradient, as torch's: zero where the output is zero
                    dx[i] = 0.0


@_ordered
def _weight_gradients(sizes, offsets, grad_offsets, grad, acts, deltas, skip_zeros):
    """
    Every parameter's gradient summed over the rows of ``acts`` into ``grad``: the weights'
    ``Σ_r dy_r x_r``, the biases' ``Σ_r dy_r``, row after row. With ``skip_zeros`` the rows
    whose ``dy`` is zero are left out: each adds ``0 * x``, nothing, when the inputs are finite.
    """
    n_rows = acts.shape[0]
    picked = np.empty(n_rows, np.int64)
    scales = np.empty(n_rows, np.float32)
    for layer in range(len(sizes) - 1):
        n_in = sizes[layer]
        weight_grad = grad[grad_offsets[2 * layer] : grad_offsets[2 * layer + 1]]
        bias_grad = grad[grad_offsets[2 * layer + 1] : grad_offsets[2 * layer + 2]]
        weight_grad[:] = 0.0
        for o in range(sizes[layer + 1]):
            n = 0
            total = np.float32(0.0)
            for r in range(n_rows):  # without a branch: the zeros come unpredictably
                d = deltas[r, offsets[layer + 1] + o]
                picked[n] = r
                scales[n] = d
                n += (d != 0) or not skip_zeros
                total += d
            bias_grad[o] = total
            _add_scaled_rows(weight_grad[o * n_in : (o + 1) * n_in], acts, offsets[layer], scales, picked, n)


@_inline
def _all_finite(arrays):
    """Whether every element of ``arrays`` is finite (a sum, which NaN, inf and overflow make non-finite)."""
    total = np.float32(0.0)
    for array in arrays:
        for value in array.ravel():
            total += value
    return np.isfinite(total)


@_inline
def _next_step_size(step, settings, last_t, last_step_size):
    """
    Advance one parameter's Adam step count; return it and Keras' bias-corrected step size
    ``lr sqrt(1 - β2^t) / (1 - β1^t)`` in float64, as :class:`KerasAdam`. Each parameter keeps
    its own count, but they are always equal: the previous parameter's ``(last_t, last_step_size)``
    is reused instead of two powers per parameter.
    """
    step[0] += 1.0
    t = step[0]
    if t == last_t:
        return t, last_step_size
    return t, settings.lr * (1.0 - settings.beta2**t) ** 0.5 / (1.0 - settings.beta1**t)


@_inline
def _adam_epsilon(settings, t):
    """
    The ``e`` of :func:`_adam_step`'s ``m / (sqrt(v) + e)`` at step ``t``: Keras adds ``eps`` to
    ``sqrt(v)`` before bias correction (B12); torch's ``Adam`` adds it after,
    ``sqrt(v) / sqrt(1 - β2^t) + eps``, which is Keras' step with ``e = eps sqrt(1 - β2^t)``.
    """
    if settings.torch_adam:
        return np.float32(settings.eps * (1.0 - settings.beta2**t) ** 0.5)
    return np.float32(settings.eps)


@_inline
def _adam_step(param, grad, exp_avg, exp_avg_sq, step_size, settings, e):
    """One :class:`KerasAdam` step on one parameter (B12), same operations and types; torch's with its ``e``."""
    b1, b2 = np.float32(settings.beta1), np.float32(settings.beta2)
    c1, c2 = np.float32(1.0 - settings.beta1), np.float32(1.0 - settings.beta2)
    for j in range(len(param)):
        g = grad[j]
        m = exp_avg[j] * b1 + c1 * g
        v = exp_avg_sq[j] * b2 + c2 * g * g
        exp_avg[j] = m
        exp_avg_sq[j] = v
        param[j] = param[j] + step_size * (m / (np.sqrt(v) + e))


@_inline
def _clip_grad_norm(grad, grad_offsets, max_grad_norm):
    """
    ``torch.nn.utils.clip_grad_norm_`` on the gradients laid out in ``grad``: the 2-norm of their
    2-norms, and every gradient times ``max_grad_norm / (norm + 1e-6)`` where that is below 1.
    """
    squared_total = np.float32(0.0)
    for p in range(len(grad_offsets) - 1):
        squared = np.float32(0.0)
        for j in range(grad_offsets[p], grad_offsets[p + 1]):
            squared += grad[j] * grad[j]
        parameter_norm = np.sqrt(squared)
        squared_total += parameter_norm * parameter_norm
    coefficient = np.float32(max_grad_norm) / (np.sqrt(squared_total) + np.float32(1e-6))
    if coefficient < 1.0:
        for j in range(grad_offsets[-1]):
            grad[j] *= coefficient


# --------------------------------------------------------------------------- fits (B11)


@_jit
def _fit_each_sample(network, adam, settings, work, losses):
    """
    One Adam step on the loss of each sample in turn (B11's ``train_on_batch`` on batches of one),
    on ``work.acts`` (scaled inputs) to ``work.targets``, layer by layer from the head down: the
    input's gradient from the weights before their step, then the step. A batch of one needs no
    accumulation: the weights' gradient is the outer product ``dy x``, written once, never zeroed.
    Unclipped (a clipped fit needs the whole gradient before any step: :func:`_fit_batch`).
    Writes each fit's loss to ``losses``.
    """
    # The records' arrays read once, out of the loops: each read counts a reference.
    sizes, params = network.sizes, network.params
    exp_avg, exp_avg_sq, steps = adam.exp_avg, adam.exp_avg_sq, adam.steps
    offsets, grad, acts, deltas = work.offsets, work.grad, work.acts, work.deltas
    targets, actions = work.targets, work.actions
    n_layers = len(sizes) - 1
    n_outputs = sizes[n_layers]
    n_actions = _n_actions(network)
    n_terms = _n_loss_terms(network, settings)
    for r in range(acts.shape[0]):
        row, delta = acts[r], deltas[r]
        head = _forward(params, sizes, offsets, row)
        loss = _output_gradient(row[head : head + n_outputs], targets[r], actions[r], n_actions, network.n_quantiles,
                                settings, np.float32(1.0 / n_terms), delta[head : head + n_outputs])
        t, step_size = -1.0, 0.0
        for layer in range(n_layers - 1, -1, -1):
            n_in, k = sizes[layer], 2 * layer
            weight, bias = params[k], params[k + 1]
            x = row[offsets[layer] : offsets[layer + 1]]
            dy = delta[offsets[layer + 1] : offsets[layer + 2]]
            t, step_size = _next_step_size(steps[k], settings, t, step_size)
            weight_step = np.float32(-step_size)
            t, step_size = _next_step_size(steps[k + 1], settings, t, step_size)
            e = _adam_epsilon(settings, t)
            # The bias's gradient is dy itself.
            _adam_step(bias, dy, exp_avg[k + 1], exp_avg_sq[k + 1], np.float32(-step_size), settings, e)
            weight_grad = grad[: len(weight)]
            for o in range(sizes[layer + 1]):
                d = dy[o]
                g = weight_grad[o * n_in : (o + 1) * n_in]
                for i in range(n_in):
                    g[i] = d * x[i]
            if layer > 0:  # the input's gradient reads the weights before their step
                _backward_layer(weight, n_in, sizes[layer + 1], x, dy, delta[offsets[layer] : offsets[layer + 1]])
            _adam_step(weight, weight_grad, exp_avg[k], exp_avg_sq[k], weight_step, settings, e)
        losses[r] = loss / n_terms


@_jit
def _fit_batch(network, adam, settings, work, acts, deltas, targets, actions):
    """
    One Adam step on the loss of the rows of ``acts`` (scaled inputs) to ``targets``: the
    reference path's fit on a whole minibatch (``per_sample_updates=False``), or on a batch of
    one when gradients are clipped. The loss is a mean over rows and terms, so each term's
    derivative is divided by their number; the rows' gradients are summed in ``work.grad``, and
    with a finite ``max_grad_norm`` clipped as :func:`_clip_grad_norm`, before the steps.
    Returns the loss.
    """
    offsets, grad_offsets, grad = work.offsets, work.grad_offsets, work.grad
    sizes, params = network.sizes, network.params
    exp_avg, exp_avg_sq, steps = adam.exp_avg, adam.exp_avg_sq, adam.steps
    n_rows = acts.shape[0]
    n_layers = len(sizes) - 1
    n_outputs = sizes[n_layers]
    n_actions = _n_actions(network)
    n_terms = n_rows * _n_loss_terms(network, settings)
    norm = np.float32(1.0 / n_terms)
    loss = 0.0
    for r in range(n_rows):
        head = _forward(params, sizes, offsets, acts[r])
        loss += _output_gradient(acts[r, head : head + n_outputs], targets[r], actions[r], n_actions,
                                 network.n_quantiles, settings, norm, deltas[r, head : head + n_outputs])
    skip_zeros = _all_finite(params) and _all_finite(acts)
    _backward_rows(params, sizes, offsets, acts, deltas, skip_zeros)
    _weight_gradients(sizes, offsets, grad_offsets, grad, acts, deltas, skip_zeros)
    if np.isfinite(settings.max_grad_norm):
        _clip_grad_norm(grad, grad_offsets, settings.max_grad_norm)
    t, step_size = -1.0, 0.0
    for k in range(0, 2 * n_layers, 2):  # a layer's weight, then its bias
        t, step_size = _next_step_size(steps[k], settings, t, step_size)
        e = _adam_epsilon(settings, t)
        _adam_step(params[k], grad[grad_offsets[k] : grad_offsets[k + 1]], exp_avg[k], exp_avg_sq[k],
                   np.float32(-step_size), settings, e)
        t, step_size = _next_step_size(steps[k + 1], settings, t, step_size)
        _adam_step(params[k + 1], grad[grad_offsets[k + 1] : grad_offsets[k + 2]], exp_avg[k + 1], exp_avg_sq[k + 1],
                   np.float32(-step_size), settings, e)
    return loss / n_terms


@_inline
def _fit_minibatch(online, adam, settings, work, losses):
    """
    The fits of one replay on ``work.acts`` (scaled inputs) to ``work.targets``: one sample at a
    time (B11; with clipping as a batch of one each), or the minibatch at once. Writes each fit's
    loss to ``losses``.
    """
    acts, deltas, targets, actions = work.acts, work.deltas, work.targets, work.actions
    if settings.per_sample and np.isfinite(settings.max_grad_norm):
        for r in range(acts.shape[0]):
            losses[r] = _fit_batch(online, adam, settings, work, acts[r : r + 1], deltas[r : r + 1],
                                   targets[r : r + 1], actions[r : r + 1])
    elif settings.per_sample:
        _fit_each_sample(online, adam, settings, work, losses)
    else:
        losses[0] = _fit_batch(online, adam, settings, work, acts, deltas, targets, actions)


# --------------------------------------------------------------------------- entry points


@_jit
def replay_kernel(indices, memory, online, target, adam, settings, losses):
    """
    ``len(indices)`` replays, each on the memory rows ``indices[k]`` (B7): the TD targets from Q̂
    computed once (B10, :func:`_td_targets`), then the fits (B11, :func:`_fit_minibatch`).
    Writes each fit's loss to ``losses[k]``.
    """
    work = _workspace(online, indices.shape[1])
    observations, acts, mean, scale = memory.observations, work.acts, online.mean, online.scale
    for k in range(indices.shape[0]):
        rows = indices[k]
        _td_targets(rows, memory, online, target, settings, work)
        for r in range(len(rows)):
            _scale_into(observations[rows[r]], mean, scale, acts[r])
        _fit_minibatch(online, adam, settings, work, losses[k])


@_jit
def targets_kernel(rows, memory, online, target, settings):
    """:func:`_td_targets` alone, for the memory rows ``rows`` (a replay's first half, for the parity tests)."""
    work = _workspace(online, len(rows))
    _td_targets(rows, memory, online, target, settings, work)
    return work.targets


@_jit
def fit_kernel(observations, actions, targets, online, adam, settings, losses):
    """:func:`_fit_minibatch` on raw ``observations`` to ``targets`` at ``actions`` (a replay's second half)."""
    work = _workspace(online, len(observations))
    work.targets[:, : targets.shape[1]] = targets
    work.actions[:] = actions
    for r in range(len(observations)):
        _scale_into(observations[r], online.mean, online.scale, work.acts[r])
    _fit_minibatch(online, adam, settings, work, losses)


@_jit
def greedy_kernel(observations, network):
    """argmax of Q for each row of raw ``observations`` (B9); ties go to the first action, as torch."""
    sizes, params, mean, scale = network.sizes, network.params, network.mean, network.scale
    offsets = np.zeros(len(sizes) + 1, np.int64)
    for layer in range(len(sizes)):
        offsets[layer + 1] = offsets[layer] + sizes[layer]
    row = np.empty(offsets[-1], np.float32)
    actions = np.empty(len(observations), np.int64)
    for n in range(len(observations)):
        _scale_into(observations[n], mean, scale, row)
        head = _forward(params, sizes, offsets, row)
        actions[n] = _greedy(row[head:], _n_actions(network), network.n_quantiles)
    return actions


# --------------------------------------------------------------------------- binding to torch


# The options of torch's Adam that change its step, at the values the kernel implements.
_PLAIN_ADAM = {"weight_decay": 0, "amsgrad": False, "maximize": False, "capturable": False, "differentiable": False,
               "fused": None}


def kernel_unsupported_reason(policy: BlogDQNPolicy, replay_buffer: ReplayBuffer | None, device: th.device) -> str | None:
    """Why the kernel cannot serve this policy and memory, or None when it can: the one place that decides."""
    if replay_buffer is not None and type(replay_buffer) not in (HistoryReplayBuffer, NStepHistoryReplayBuffer):
        return (f"the replay buffer is a {type(replay_buffer).__name__}; the kernel samples BlogDQN's "
                "HistoryReplayBuffer (B7) and its n-step variant only")
    if th.device(device).type != "cpu":
        return f"the model is on {device} and the kernel runs on the CPU"
    return _optimizer_reason(policy) or _network_reason(policy)


def _optimizer_reason(policy: BlogDQNPolicy) -> str | None:
    optimizer = policy.optimizer
    if type(optimizer) not in (KerasAdam, th.optim.Adam):
        return f"the optimizer is {type(optimizer).__name__}, the kernel implements KerasAdam and torch's Adam only"
    if len(optimizer.param_groups) != 1:
        return "the optimizer has several parameter groups"
    if type(optimizer) is th.optim.Adam:
        group = optimizer.param_groups[0]
        options = {name: group.get(name) for name in _PLAIN_ADAM if group.get(name)}
        if options:
            return (f"torch's Adam has {options}; the kernel implements it with "
                    f"{', '.join(f'{name}={_PLAIN_ADAM[name]}' for name in options)} only")
    if [id(p) for p in optimizer.param_groups[0]["params"]] != [id(p) for p in policy.q_net.parameters()]:
        return "the optimizer does not hold exactly the online network's parameters"
    return None


def _network_reason(policy: BlogDQNPolicy) -> str | None:
    for name, q_net in (("q_net", policy.q_net), ("q_net_target", policy.q_net_target)):
        if type(q_net) not in (QNetwork, QuantileQNetwork):
            return (f"policy.{name} is a {type(q_net).__name__}, the kernel knows SB3's QNetwork and "
                    "QuantileQNetwork only")
        if type(q_net.features_extractor) is not StandardScalerExtractor:
            return (f"the features extractor is {type(q_net.features_extractor).__name__}, the kernel "
                    "knows StandardScalerExtractor only")
        if q_net.observation_space.dtype != np.float32:
            return f"observations are {q_net.observation_space.dtype}, the kernel takes float32"
        layers = list(q_net.q_net)
        for i, layer in enumerate(layers):
            expected = nn.Linear if i % 2 == 0 else nn.ReLU
            if type(layer) is not expected:
                return (f"{name}'s layer {i} is {layer}; the kernel needs Linear layers with ReLU between "
                        "them and a linear head (policy_kwargs activation_fn=nn.ReLU)")
            if expected is nn.Linear and layer.bias is None:
                return f"{name}'s layer {i} has no bias"
        if len(layers) % 2 == 0:
            return f"{name} ends with an activation, the kernel needs a linear head"
        for param in q_net.parameters():
            if param.dtype != th.float32 or not param.is_contiguous():
                return f"{name}'s parameters must be contiguous float32 tensors"
    return None


def _flat_views(tensors: Sequence[th.Tensor]) -> tuple[np.ndarray, ...]:
    # view(-1) never copies (it raises instead), so the arrays share the tensors' memory.
    return tuple(t.detach().view(-1).numpy() for t in tensors)


def adam_record(states: list[dict[str, th.Tensor]]) -> AdamState:
    """Adam's moments and step counts, one state per parameter, as the kernel reads them (views, no copies)."""
    return AdamState(*(_flat_views([state[key] for state in states]) for key in ("exp_avg", "exp_avg_sq", "step")))


def network_record(q_net: QNetwork) -> Network:
    """One Q network's weights and scaler as the kernel reads them (views, no copies)."""
    params = list(q_net.q_net.parameters())
    scaler = q_net.features_extractor
    assert isinstance(scaler, StandardScalerExtractor), "kernel_unsupported_reason accepts no other extractor"
    sizes = np.array([params[0].shape[1]] + [p.shape[0] for p in params[::2]], dtype=np.int64)
    return Network(_flat_views(params), scaler.mean.numpy(), scaler.scale.numpy(), sizes,
                   getattr(q_net, "n_quantiles", 0))


def memory_record(replay_buffer: HistoryReplayBuffer) -> Memory:
    """The memory's arrays as the kernel reads them (views, no copies)."""
    n_rows = len(replay_buffer.observations)
    return Memory(
        replay_buffer.observations.reshape(n_rows, -1),
        replay_buffer.next_observations.reshape(n_rows, -1),
        replay_buffer.actions.reshape(n_rows).astype(np.int64, copy=False),
        replay_buffer.rewards.reshape(n_rows),
        replay_buffer.dones.reshape(n_rows),
        replay_buffer.timeouts.reshape(n_rows),
        getattr(replay_buffer, "n_steps", 1),
        (replay_buffer.pos - 1) % n_rows,
    )
