"""Input gradients of classifiers: the objects whose perceptual alignment Part II studies."""
import torch


def input_gradient(model, x, y, create_graph=False):
    """∇_x log p(y | x) for every example: a tensor shaped like x.

    The model is evaluated in eval mode and only the input gradient is computed (parameter
    gradients are untouched). With `create_graph` the result can itself be differentiated
    (double back-propagation), and the model keeps its current mode.
    """
    if x.dim() < 2 or y.shape != x.shape[:1]:
        raise ValueError(f"x must be a batch and y one label per example, got x {tuple(x.shape)} and y {tuple(y.shape)}")
    was_training = model.training
    if not create_graph:
        model.eval()
    try:
        x = x.detach().requires_grad_(True)
        log_p = torch.log_softmax(model(x), dim=1).gather(1, y[:, None]).sum()
        (grad,) = torch.autograd.grad(log_p, x, create_graph=create_graph)
    finally:
        model.train(was_training)
    return grad if create_graph else grad.detach()
