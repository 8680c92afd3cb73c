"""What the compiled-path tests share: a loss that reads every output, and its gradients."""

import torch

from rnnkit.state_tree import leaves, tree_map


def run(layer, x, state, lengths, all_states=False):
    """Outputs, final state and gradients of a loss that reads all of them."""
    layer.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    state = None if state is None else tree_map(lambda s: s.clone().requires_grad_(), state)
    result = layer(x, state, lengths=lengths, return_all_states=all_states)
    y, final = result[0], result[1]
    loss = (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum()
    loss = loss + sum((s ** 3).sum() for s in leaves(final))
    if all_states:
        loss = loss + sum((s * 0.5).sum() for s in leaves(result[2]))
    loss.backward()
    grads = [p.grad for p in layer.parameters()] + [x.grad]
    if state is not None:
        grads += [s.grad for s in leaves(state)]
    return [y, *leaves(final)], grads


def penalty_grads(layer, x, state, lengths):
    """Gradients of a gradient penalty (create_graph=True, then backward again) for x, the
    parameters and the initial state: what WGAN-GP, Hessian-vector products and MAML need."""
    x = x.clone().requires_grad_()
    state = None if state is None else tree_map(lambda s: s.clone().requires_grad_(), state)
    y, final = layer(x, state, lengths=lengths)
    loss = (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum()
    loss = loss + sum((s ** 3).sum() for s in leaves(final))
    inputs = [x, *layer.parameters()] + ([] if state is None else leaves(state))
    first = torch.autograd.grad(loss, inputs, create_graph=True)
    penalty = sum((g ** 2).sum() for g in first)
    return [*first, *torch.autograd.grad(penalty, inputs)]
