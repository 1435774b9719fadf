"""
The fused CPU kernel behind BlogDQN's replays (B7, B9-B12), with one-step (B10) or n-step targets.

The blog fits each minibatch one sample at a time (B11): 32 forward passes, backward
passes and Adam steps per environment step, on a network of about a thousand weights.
Done with torch, the per-call overhead dominates; here numba compiles the whole replay
(TD targets from Q̂, then the fits) into one loop. It computes exactly what
``BlogDQN._td_targets`` and ``BlogDQN._fit`` compute — ``tests/test_kernel.py`` checks
it against them — and works in place on numpy views of the torch parameters, the
scaler buffers and the :class:`KerasAdam` state, so ``predict``, callbacks and
save/load see the kernel's updates as if torch had made them.

The network is the one :class:`BlogDQNPolicy` builds: a :class:`StandardScalerExtractor`,
then ``Linear`` layers with ``ReLU`` between them and a linear head, any widths: one
Q-value per action, or with the quantile loss (``loss="quantile"``, a
:class:`QuantileQNetwork`) ``n_quantiles`` values per action, quantile ``j`` of action
``a`` at head output ``j * n_actions + a`` as sb3-contrib lays them out. Gradients are
not clipped (B10) unless ``max_grad_norm`` is finite, as ``clip_grad_norm_`` clips them.
Arithmetic is float32 in the order torch uses, so the two paths agree to float rounding.
"""

import math

import numba
import numpy as np
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.dqn.policies import QNetwork
from torch import nn

from sb3_blogdqn.blogdqn.policies import BlogDQNPolicy, QuantileQNetwork, StandardScalerExtractor
from sb3_blogdqn.common.buffers import HistoryReplayBuffer
from sb3_blogdqn.common.optim import KerasAdam

# error_model="numpy": IEEE division (inf/NaN) instead of a ZeroDivisionError check per division.
# Reassociation lets LLVM vectorize the dot products; the sums then round in another order
# than torch's (which has its own, BLAS-dependent one): a difference of float rounding only.
_jit = numba.njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
# The small helpers called once per layer and sample, inlined into their callers by numba:
# a call passes each array as a struct and counts references, more than their loops cost.
_inline = numba.njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"}, inline="always")


# --------------------------------------------------------------------------- compiled code
#
# A network is described by ``sizes`` (input, hidden..., head outputs) and a tuple of flat
# float32 arrays ``params = (W1, b1, W2, b2, ...)``, each ``W`` row-major (out, in) as in
# ``nn.Linear``. One sample's activations live in one row of ``acts``: the scaled input,
# then each layer's output after its ReLU (the head has none); ``offsets`` locate them.
# ``n_quantiles`` is 0 for a head of Q-values, else the quantiles per action (loss="quantile").


@_jit
def _offsets(sizes):
    offsets = np.zeros(len(sizes) + 1, np.int64)
    for layer in range(len(sizes)):
        offsets[layer + 1] = offsets[layer] + sizes[layer]
    return offsets


@_jit
def _scale_into(observation, mean, scale, row):
    """The StandardScaler input layer (B4): ``(x - mean) / scale``."""
    for i in range(len(observation)):
        row[i] = (observation[i] - mean[i]) / scale[i]


@_jit
def _forward(params, sizes, offsets, row):
    """Fill ``row``'s layer outputs from its scaled input; return the head's offset."""
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


@_jit
def _forward_columns(params, sizes, offsets, columns):
    """
    :func:`_forward` for a whole minibatch at once, one sample per column of ``columns``
    (rows: the activations). The innermost loop runs along the minibatch, contiguous and
    without a reduction, so it vectorizes fully; used for the targets, which Q̂ computes
    for all samples before any fit (B10).
    """
    n_layers = len(sizes) - 1
    n_columns = columns.shape[1]
    for layer in range(n_layers):
        weight = params[2 * layer]
        bias = params[2 * layer + 1]
        n_in = sizes[layer]
        x = columns[offsets[layer] : offsets[layer + 1]]
        for o in range(sizes[layer + 1]):
            y = columns[offsets[layer + 1] + o]
            y[:] = 0.0
            w = weight[o * n_in : (o + 1) * n_in]
            for i in range(n_in):
                w_i = w[i]
                x_i = x[i]
                for c in range(n_columns):
                    y[c] += w_i * x_i[c]
            b = bias[o]
            for c in range(n_columns):
                total = y[c] + b
                if layer < n_layers - 1 and total < 0:
                    total = np.float32(0.0)
                y[c] = total


@_inline
def _forward_rows(states, rows, mean, scale, params, sizes, offsets, columns):
    """:func:`_forward_columns` on the buffer rows ``rows`` of ``states``, scaled (B4) into the columns."""
    for r in range(len(rows)):
        j = rows[r]
        for i in range(len(mean)):
            columns[i, r] = (states[j, i] - mean[i]) / scale[i]
    _forward_columns(params, sizes, offsets, columns)


@_inline
def _next_step_size(step, lr, beta1, beta2, last_t, last_step_size):
    """
    Advance one parameter's Adam step count; return it and Keras' bias-corrected step
    size ``lr sqrt(1 - β2^t) / (1 - β1^t)`` in float64, as :class:`KerasAdam`. Each
    parameter keeps its own count, but they are always equal: the previous parameter's
    ``(last_t, last_step_size)`` is reused instead of two powers per parameter.
    """
    step[0] += 1.0
    t = step[0]
    if t == last_t:
        return t, last_step_size
    return t, lr * (1.0 - beta2**t) ** 0.5 / (1.0 - beta1**t)


@_inline
def _keras_adam(param, grad, exp_avg, exp_avg_sq, step_size, b1, b2, c1, c2, e):
    """One :class:`KerasAdam` step on one parameter (B12), same operations and types; torch's ``Adam``'s
    with the ``e`` of :func:`_adam_epsilon`."""
    for j in range(len(param)):
        g = grad[j]
        m = exp_avg[j] * b1 + c1 * g
        v = exp_avg_sq[j] * b2 + c2 * g * g
        exp_avg[j] = m
        exp_avg_sq[j] = v
        param[j] = param[j] + step_size * (m / (np.sqrt(v) + e))


@_inline
def _adam_epsilon(eps, beta2, t, torch_adam):
    """
    The ``e`` of :func:`_keras_adam`'s step ``m / (sqrt(v) + e)`` at step ``t``: Keras adds ``eps`` to
    ``sqrt(v)`` before bias correction (B12); torch's ``Adam`` adds it after,
    ``sqrt(v) / sqrt(1 - β2^t) + eps``, which is Keras' step with ``e = eps sqrt(1 - β2^t)``.
    """
    if torch_adam:
        return np.float32(eps * (1.0 - beta2**t) ** 0.5)
    return np.float32(eps)


@_inline
def _loss_term(error, huber):
    """One term of the loss and its derivative over :func:`_loss_scale`: ``error²`` and
    ``error`` (MSE, whose derivative ``2 error`` has its 2 in the scale), or Huber's
    ``error² / 2`` and ``error`` within 1 of the target, ``|error| - 1/2`` and ``±1`` beyond
    (``F.smooth_l1_loss``, beta 1)."""
    if not huber:
        return error * error, error
    if abs(error) < 1.0:
        return np.float32(0.5) * error * error, error
    if error > 0:
        return error - np.float32(0.5), np.float32(1.0)
    return -error - np.float32(0.5), np.float32(-1.0)


@_inline
def _loss_scale(huber, n_terms):
    """What each term's :func:`_loss_term` derivative is multiplied by: the loss is a mean over
    ``n_terms`` terms, and MSE's derivative carries a factor 2."""
    return np.float32((1.0 if huber else 2.0) / n_terms)


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
def _quantile_gradient(q, target, action, n_actions, n_quantiles, norm, dq):
    """
    sb3-contrib's ``quantile_huber_loss`` (κ = 1) between the taken action's quantiles in
    ``q`` and the ``n_quantiles`` TD targets: ``Σ_i Σ_j |τ_i - [u_ij < 0]| huber(u_ij)``,
    ``u_ij = target_j - q_i``, ``τ_i = (i + 1/2) / n_quantiles``; gradient into ``dq``
    times ``norm``. Returns the summed terms.
    """
    dq[:] = 0.0
    loss = 0.0
    for i in range(n_quantiles):
        tau = np.float32((i + 0.5) / n_quantiles)
        q_i = q[i * n_actions + action]
        derivative_sum = np.float32(0.0)
        for j in range(n_quantiles):
            term, derivative = _loss_term(q_i - target[j], True)  # huber(u) and -huber'(u)
            weight = abs(tau - np.float32(1.0)) if target[j] < q_i else tau
            loss += weight * term
            derivative_sum += weight * derivative
        dq[i * n_actions + action] = derivative_sum * norm
    return loss


@_inline
def _output_gradient(q, target, action, loss_on_all_actions, huber, n_quantiles, norm, dq):
    """The loss's gradient at the head into ``dq`` (each term's derivative times ``norm``,
    :func:`_loss_scale`); return the summed loss terms."""
    loss = 0.0
    if n_quantiles > 0:
        return _quantile_gradient(q, target, action, len(q) // n_quantiles, n_quantiles, norm, dq)
    if loss_on_all_actions:
        for a in range(len(q)):
            term, derivative = _loss_term(q[a] - target[a], huber)
            loss += term
            dq[a] = derivative * norm
    else:
        dq[:] = 0.0
        term, derivative = _loss_term(q[action] - target[0], huber)
        loss += term
        dq[action] = derivative * norm
    return loss


@_jit
def _fit_one(params, exp_avg, exp_avg_sq, steps, sizes, offsets, row, delta, grad, target, action, loss_on_all_actions,
             huber, n_quantiles, lr, beta1, beta2, eps, torch_adam):
    """
    One Adam step on the loss (MSE, Huber or quantile) of one sample (B11's ``train_on_batch`` on a batch of one),
    layer by layer from the head down: the input's gradient from the weights before
    their step, then the step. A batch of one needs no accumulation: the weights'
    gradient is the outer product ``dy x``, written once, never zeroed. Returns the loss.
    """
    n_layers = len(sizes) - 1
    n_outputs = sizes[n_layers]
    n_terms = n_quantiles if n_quantiles > 0 else (n_outputs if loss_on_all_actions else 1)
    head = _forward(params, sizes, offsets, row)
    loss = _output_gradient(row[head : head + n_outputs], target, action, loss_on_all_actions, huber, n_quantiles,
                            _loss_scale(huber or n_quantiles > 0, n_terms), delta[head : head + n_outputs])
    b1, b2 = np.float32(beta1), np.float32(beta2)
    c1, c2 = np.float32(1.0 - beta1), np.float32(1.0 - beta2)
    t, step_size = -1.0, 0.0
    for layer in range(n_layers - 1, -1, -1):
        n_in = sizes[layer]
        k = 2 * layer
        weight, bias = params[k], params[k + 1]
        x = row[offsets[layer] : offsets[layer + 1]]
        dy = delta[offsets[layer + 1] : offsets[layer + 2]]
        dx = delta[offsets[layer] : offsets[layer + 1]]
        t, step_size = _next_step_size(steps[k], lr, beta1, beta2, t, step_size)
        weight_step = np.float32(-step_size)
        t, step_size = _next_step_size(steps[k + 1], lr, beta1, beta2, t, step_size)
        e = _adam_epsilon(eps, beta2, t, torch_adam)
        # The bias's gradient is dy itself.
        _keras_adam(bias, dy, exp_avg[k + 1], exp_avg_sq[k + 1], np.float32(-step_size), b1, b2, c1, c2, e)
        weight_grad = grad[: len(weight)]
        for o in range(sizes[layer + 1]):
            d = dy[o]
            g = weight_grad[o * n_in : (o + 1) * n_in]
            for i in range(n_in):
                g[i] = d * x[i]
        if layer > 0:
            # _backward's loop, written out here on purpose: B11's per-sample fit is the hot path,
            # and it must read the weights before their step, between the bias's and the weights'.
            dx[:] = 0.0
            for o in range(sizes[layer + 1]):
                d = dy[o]
                w = weight[o * n_in : (o + 1) * n_in]
                for i in range(n_in):
                    dx[i] += w[i] * d
            for i in range(n_in):
                if x[i] <= 0:  # ReLU's gradient, as torch's: zero where the output is zero
                    dx[i] = 0.0
        _keras_adam(weight, weight_grad, exp_avg[k], exp_avg_sq[k], weight_step, b1, b2, c1, c2, e)
    return loss / n_terms


@_jit
def _backward(params, sizes, offsets, row, delta):
    """
    From the loss gradient at the head (in ``delta``), the gradient at every hidden
    layer's pre-activation, using the weights of the forward pass.
    """
    for layer in range(len(sizes) - 2, 0, -1):
        weight = params[2 * layer]
        n_in = sizes[layer]
        a = row[offsets[layer] : offsets[layer + 1]]
        dx = delta[offsets[layer] : offsets[layer + 1]]
        dy = delta[offsets[layer + 1] : offsets[layer + 2]]
        dx[:] = 0.0
        for o in range(sizes[layer + 1]):
            d = dy[o]
            w = weight[o * n_in : (o + 1) * n_in]
            for i in range(n_in):
                dx[i] += w[i] * d
        for i in range(n_in):
            if a[i] <= 0:  # ReLU's gradient, as torch's: zero where the output is zero
                dx[i] = 0.0


@_jit
def _fit_batch(params, exp_avg, exp_avg_sq, steps, sizes, offsets, acts, deltas, grad, grad_offsets, targets,
               actions, loss_on_all_actions, huber, n_quantiles, max_grad_norm, lr, beta1, beta2, eps, torch_adam):
    """
    One Adam step on the loss of the rows of ``acts`` (scaled inputs) to ``targets``:
    ``BlogDQN._fit`` on a whole minibatch (``per_sample_updates=False``). Keras' ``mse``
    is a mean over actions and rows, so each output's gradient is ``2 (q - y) / n_terms``
    (Huber's: ``clip(q - y, -1, 1) / n_terms``; the quantile loss averages over rows and targets).
    The gradients of all rows are summed in ``grad``, parameter ``p``'s (W1, b1, W2, b2, ...) from
    ``grad_offsets[p]`` to ``grad_offsets[p + 1]``, and with a finite ``max_grad_norm`` scaled as
    :func:`_clip_grad_norm` says, before the steps.
    Returns the loss.
    """
    n_rows = acts.shape[0]
    n_layers = len(sizes) - 1
    n_outputs = sizes[n_layers]
    n_terms = n_rows * (n_quantiles if n_quantiles > 0 else (n_outputs if loss_on_all_actions else 1))
    norm = _loss_scale(huber or n_quantiles > 0, n_terms)
    loss = 0.0
    for r in range(n_rows):
        head = _forward(params, sizes, offsets, acts[r])
        loss += _output_gradient(acts[r, head : head + n_outputs], targets[r], actions[r], loss_on_all_actions, huber,
                                 n_quantiles, norm, deltas[r, head : head + n_outputs])
        _backward(params, sizes, offsets, acts[r], deltas[r])
    for layer in range(n_layers):
        n_in = sizes[layer]
        n_out = sizes[layer + 1]
        weight_grad = grad[grad_offsets[2 * layer] : grad_offsets[2 * layer + 1]]
        bias_grad = grad[grad_offsets[2 * layer + 1] : grad_offsets[2 * layer + 2]]
        weight_grad[:] = 0.0
        bias_grad[:] = 0.0
        for r in range(n_rows):
            x = acts[r, offsets[layer] : offsets[layer + 1]]
            dy = deltas[r, offsets[layer + 1] : offsets[layer + 2]]
            for o in range(n_out):
                d = dy[o]
                g = weight_grad[o * n_in : (o + 1) * n_in]
                for i in range(n_in):
                    g[i] += d * x[i]
                bias_grad[o] += d
    if np.isfinite(max_grad_norm):
        _clip_grad_norm(grad, grad_offsets, max_grad_norm)
    b1, b2 = np.float32(beta1), np.float32(beta2)
    c1, c2 = np.float32(1.0 - beta1), np.float32(1.0 - beta2)
    t, step_size = -1.0, 0.0
    for layer in range(n_layers):
        k = 2 * layer
        weight_grad = grad[grad_offsets[k] : grad_offsets[k + 1]]
        bias_grad = grad[grad_offsets[k + 1] : grad_offsets[k + 2]]
        t, step_size = _next_step_size(steps[k], lr, beta1, beta2, t, step_size)
        e = _adam_epsilon(eps, beta2, t, torch_adam)
        _keras_adam(params[k], weight_grad, exp_avg[k], exp_avg_sq[k], np.float32(-step_size), b1, b2, c1, c2, e)
        t, step_size = _next_step_size(steps[k + 1], lr, beta1, beta2, t, step_size)
        _keras_adam(params[k + 1], bias_grad, exp_avg[k + 1], exp_avg_sq[k + 1], np.float32(-step_size), b1, b2, c1,
                    c2, e)
    return loss / n_terms


@_inline
def _clip_grad_norm(grad, grad_offsets, max_grad_norm):
    """
    ``torch.nn.utils.clip_grad_norm_`` on the parameters' gradients laid out in ``grad`` as
    :func:`_fit_batch` says: the 2-norm of their 2-norms, and every gradient times
    ``max_grad_norm / (norm + 1e-6)`` where that is below 1 (SB3's DQN clips at 10; the blog at nothing, B10).
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


@_inline
def _n_step_return(row, rewards, dones, timeouts, n_steps, last_valid, gamma):
    """
    The return from buffer row ``row`` and where to bootstrap: ``(G, γ^m, last row)``, ``G``
    the discounted rewards of the ``m <= n_steps`` rows up to the first done or time-limit
    cut, or the newest row ``last_valid`` (the row after it is an older episode), as SB3's
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
        if dones[last] != 0 or timeouts[last] != 0 or last == last_valid:
            break
    return total, discount, last


@_jit
def replay_kernel(indices, observations, next_observations, buffer_actions, rewards, dones, timeouts, n_steps,
                  last_valid, params, exp_avg, exp_avg_sq, steps, mean, scale, target_params, target_mean,
                  target_scale, sizes, n_quantiles, gamma, loss_on_all_actions, per_sample_updates, double_q, huber,
                  max_grad_norm, lr, beta1, beta2, eps, torch_adam, losses):
    """
    ``len(indices)`` replays, each on the buffer rows ``indices[k]`` (B7): TD targets
    from Q̂ computed once (B10; with ``double_q`` at Q's greedy next action; with
    ``n_steps`` > 1 on n-step returns, bootstrapping ``n_steps`` rows on), then the
    fits, one sample at a time (B11) or the batch at once, on the MSE or (``huber``) the
    Huber loss; with ``n_quantiles`` > 0 one target per quantile of Q̂ at the greedy next
    action (mean of the quantiles), fitted by the quantile Huber loss; with a finite
    ``max_grad_norm`` each fit's gradient is clipped to that norm first, as SB3's DQN does
    (a per-sample fit then goes through :func:`_fit_batch` on a batch of one, since clipping
    needs the whole gradient before any step). Writes each fit's loss to ``losses[k]``.
    """
    n_replays, batch_size = indices.shape
    offsets = _offsets(sizes)
    n_layers = len(sizes) - 1
    n_actions = sizes[n_layers] // max(n_quantiles, 1)
    head = offsets[n_layers]
    # Where each parameter's gradient starts in grad (W1, b1, W2, b2, ...): _fit_batch keeps them all.
    grad_offsets = np.zeros(2 * n_layers + 1, np.int64)
    for layer in range(n_layers):
        grad_offsets[2 * layer + 1] = grad_offsets[2 * layer] + sizes[layer + 1] * sizes[layer]
        grad_offsets[2 * layer + 2] = grad_offsets[2 * layer + 1] + sizes[layer + 1]
    acts = np.empty((batch_size, offsets[-1]), np.float32)
    deltas = np.empty((batch_size, offsets[-1]), np.float32)
    columns = np.empty((offsets[-1], batch_size), np.float32)
    grad = np.empty(grad_offsets[-1], np.float32)
    targets = np.empty((batch_size, max(n_actions, n_quantiles)), np.float32)
    actions = np.empty(batch_size, np.int64)
    next_actions = np.zeros(batch_size, np.int64)
    returns = np.empty(batch_size, np.float32)
    discounts = np.empty(batch_size, np.float32)
    next_rows = np.empty(batch_size, np.int64)
    g = np.float32(gamma)
    one = np.float32(1.0)
    for k in range(n_replays):
        for r in range(batch_size):
            returns[r], discounts[r], next_rows[r] = _n_step_return(indices[k, r], rewards, dones, timeouts, n_steps,
                                                                    last_valid, g)
        # B10: r + γ max_a Q̂(s', a), r alone when done (a time-limit cut counts as done
        # unless the buffer marked it as a timeout, B14). Double DQN: Q̂(s', argmax_a Q(s', a)).
        if double_q:
            _forward_rows(next_observations, next_rows, mean, scale, params, sizes, offsets, columns)
            for r in range(batch_size):
                next_actions[r] = _greedy(columns[head:, r], n_actions, n_quantiles)
        _forward_rows(next_observations, next_rows, target_mean, target_scale, target_params, sizes, offsets, columns)
        for r in range(batch_size):
            actions[r] = buffer_actions[indices[k, r]]
            if not double_q:
                next_actions[r] = _greedy(columns[head:, r], n_actions, n_quantiles)
            last = next_rows[r]
            done = dones[last] * (one - timeouts[last])
            if n_quantiles == 0:
                targets[r, 0] = returns[r] + (one - done) * discounts[r] * columns[head + next_actions[r], r]
            for j in range(n_quantiles):  # QR-DQN: each quantile of Q̂ at the greedy next action
                next_quantile = columns[head + j * n_actions + next_actions[r], r]
                targets[r, j] = returns[r] + (one - done) * discounts[r] * next_quantile
        if loss_on_all_actions:
            _forward_rows(observations, indices[k], target_mean, target_scale, target_params, sizes, offsets, columns)
            for r in range(batch_size):
                td_target = targets[r, 0]
                for a in range(n_actions):
                    targets[r, a] = columns[head + a, r]
                targets[r, actions[r]] = td_target
        for r in range(batch_size):
            _scale_into(observations[indices[k, r]], mean, scale, acts[r])
        if per_sample_updates and np.isfinite(max_grad_norm):
            for r in range(batch_size):
                losses[k, r] = _fit_batch(params, exp_avg, exp_avg_sq, steps, sizes, offsets, acts[r : r + 1],
                                          deltas[r : r + 1], grad, grad_offsets, targets[r : r + 1],
                                          actions[r : r + 1], loss_on_all_actions, huber, n_quantiles, max_grad_norm,
                                          lr, beta1, beta2, eps, torch_adam)
        elif per_sample_updates:
            for r in range(batch_size):
                losses[k, r] = _fit_one(params, exp_avg, exp_avg_sq, steps, sizes, offsets, acts[r], deltas[r], grad,
                                        targets[r], actions[r], loss_on_all_actions, huber, n_quantiles, lr, beta1,
                                        beta2, eps, torch_adam)
        else:
            losses[k, 0] = _fit_batch(params, exp_avg, exp_avg_sq, steps, sizes, offsets, acts, deltas, grad,
                                      grad_offsets, targets, actions, loss_on_all_actions, huber, n_quantiles,
                                      max_grad_norm, lr, beta1, beta2, eps, torch_adam)


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


@_jit
def greedy_kernel(observations, params, mean, scale, sizes, n_quantiles):
    """argmax of Q for each row of raw ``observations`` (B9); ties go to the first action, as torch."""
    offsets = _offsets(sizes)
    n_actions = sizes[len(sizes) - 1] // max(n_quantiles, 1)
    row = np.empty(offsets[-1], np.float32)
    actions = np.empty(len(observations), np.int64)
    for n in range(len(observations)):
        _scale_into(observations[n], mean, scale, row)
        head = _forward(params, sizes, offsets, row)
        actions[n] = _greedy(row[head:], n_actions, n_quantiles)
    return actions


# --------------------------------------------------------------------------- binding to torch


# The options of torch's Adam that change its step, at the values the kernel implements.
_PLAIN_ADAM = {"weight_decay": 0, "amsgrad": False, "maximize": False, "capturable": False, "differentiable": False,
               "fused": None}


def kernel_unsupported_reason(policy: BlogDQNPolicy, device: th.device) -> str | None:
    """Why the kernel cannot run this policy, or None when it can."""
    if th.device(device).type != "cpu":
        return f"the model is on {device} and the kernel runs on the CPU"
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
    if [id(p) for p in optimizer.param_groups[0]["params"]] != [id(p) for p in policy.q_net.parameters()]:
        return "the optimizer does not hold exactly the online network's parameters"
    return None


def _flat_views(tensors: list[th.Tensor]) -> tuple[np.ndarray, ...]:
    # view(-1) never copies (it raises instead), so the arrays share the tensors' memory.
    return tuple(t.detach().view(-1).numpy() for t in tensors)


class ReplayKernel:
    """
    The kernel bound to one policy: numpy views of Q's and Q̂'s weights and scalers and
    of the KerasAdam state (created here, as KerasAdam would, if no step was taken yet).
    Rebuild it when :meth:`is_bound_to` says the policy or its tensors were replaced
    (e.g. after ``set_parameters``, which loads a new optimizer state).

    :param policy: a policy :func:`kernel_unsupported_reason` accepts
    """

    def __init__(self, policy: BlogDQNPolicy) -> None:
        self.policy = policy
        self.optimizer = policy.optimizer
        q_params = list(policy.q_net.q_net.parameters())
        target_params = list(policy.q_net_target.q_net.parameters())
        self.torch_adam = type(self.optimizer) is th.optim.Adam  # else KerasAdam (B12)
        for param in q_params:
            state = self.optimizer.state[param]
            if not state:
                # Each optimizer's own step type: torch's Adam counts in float32, KerasAdam in float64.
                state["step"] = th.zeros((), dtype=th.float32 if self.torch_adam else th.float64)
                state["exp_avg"] = th.zeros_like(param)
                state["exp_avg_sq"] = th.zeros_like(param)
        states = [self.optimizer.state[p] for p in q_params]
        self.optimizer_state = self.optimizer.state
        self.tensors = (*q_params, *target_params)
        self.data_ptrs = self._data_ptrs()
        self.params = _flat_views(q_params)
        self.target_params = _flat_views(target_params)
        self.exp_avg = _flat_views([s["exp_avg"] for s in states])
        self.exp_avg_sq = _flat_views([s["exp_avg_sq"] for s in states])
        self.steps = _flat_views([s["step"] for s in states])
        scaler, target_scaler = policy.q_net.features_extractor, policy.q_net_target.features_extractor
        self.mean, self.scale = scaler.mean.numpy(), scaler.scale.numpy()
        self.target_mean, self.target_scale = target_scaler.mean.numpy(), target_scaler.scale.numpy()
        self.sizes = np.array([q_params[0].shape[1]] + [p.shape[0] for p in q_params[::2]], dtype=np.int64)
        self.n_quantiles = getattr(policy.q_net, "n_quantiles", 0)  # 0: a head of Q-values

    def _data_ptrs(self) -> list[int]:
        # Checked before every replay and greedy action: map is about twice as fast as a generator here.
        return list(map(th.Tensor.data_ptr, self.tensors))

    def is_bound_to(self, policy: BlogDQNPolicy) -> bool:
        return (
            policy is self.policy
            and policy.optimizer is self.optimizer
            and self.optimizer.state is self.optimizer_state
            and self._data_ptrs() == self.data_ptrs
        )

    def replay(self, replay_buffer: ReplayBuffer, indices: np.ndarray, gamma: float, loss_on_all_actions: bool,
               per_sample_updates: bool, double_q: bool = False, huber: bool = False,
               max_grad_norm: float = math.inf) -> np.ndarray:
        """
        Run the replays of ``indices`` (one row per replay, B7) with the buffer's one-step (B10)
        or n-step targets (an :class:`NStepHistoryReplayBuffer`), gradients clipped to
        ``max_grad_norm`` (``inf``: not clipped, B10); return each fit's loss.
        """
        group = self.optimizer.param_groups[0]
        n_rows = len(replay_buffer.observations)
        losses = np.zeros((len(indices), indices.shape[1] if per_sample_updates else 1))
        replay_kernel(
            indices,
            replay_buffer.observations.reshape(n_rows, -1),
            replay_buffer.next_observations.reshape(n_rows, -1),
            replay_buffer.actions.reshape(n_rows).astype(np.int64, copy=False),
            replay_buffer.rewards.reshape(n_rows),
            replay_buffer.dones.reshape(n_rows),
            replay_buffer.timeouts.reshape(n_rows),
            getattr(replay_buffer, "n_steps", 1),
            (replay_buffer.pos - 1) % n_rows,  # the newest row: n-step returns stop there
            self.params, self.exp_avg, self.exp_avg_sq, self.steps, self.mean, self.scale,
            self.target_params, self.target_mean, self.target_scale, self.sizes, self.n_quantiles,
            float(gamma), bool(loss_on_all_actions), bool(per_sample_updates), bool(double_q), bool(huber),
            float(max_grad_norm), float(group["lr"]), float(group["betas"][0]), float(group["betas"][1]), float(group["eps"]),
            self.torch_adam, losses,
        )  # fmt: skip
        return losses

    def greedy_actions(self, observations: np.ndarray) -> np.ndarray:
        """argmax of the online network Q for each row of ``observations`` (B9)."""
        return greedy_kernel(np.ascontiguousarray(observations, dtype=np.float32), self.params, self.mean,
                             self.scale, self.sizes, self.n_quantiles)


def sample_replay_indices(replay_buffer: HistoryReplayBuffer, n_replays: int, batch_size: int) -> np.ndarray:
    """
    Buffer rows of ``n_replays`` minibatches drawn without replacement (B7), one after the
    other with the buffer's own sampler, as ``HistoryReplayBuffer.sample`` draws them, so
    the kernel and the reference path see the same minibatches from the same seed.
    """
    indices = np.empty((n_replays, batch_size), dtype=np.int64)
    for k in range(n_replays):
        indices[k] = replay_buffer.sample_indices(batch_size)
    return indices
