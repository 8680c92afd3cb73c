"""``summary(model)``: a Keras-like table of a model's layers, parameters and state sizes.

One row per layer that holds parameters — an ``rnnkit.RNN`` (or ``torch.nn.RNN/LSTM/GRU``)
is one row, its cells are not listed — with the layer's type and sizes, its recurrent state
(torch.nn's layout, ``B`` for the batch) and its parameter count; then the totals.

Example:
    >>> print(rnnkit.summary(rnnkit.SequenceRegressor(1, 16, cell="lstm", num_layers=2)))
    SequenceRegressor
    ───────────────────────────────────────────────────────────────────────────
    Layer                Type                         State              Params
    ...
"""

from __future__ import annotations

from torch import nn

from .layers import RNN
from .runtime import format_bytes

__all__ = ["summary", "layer_rows"]


def _state(module: nn.Module) -> str:
    if isinstance(module, RNN):
        rows, H = module.num_layers * module.num_directions, module.hidden_size
        one = module.cells[0].init_state(1, device="meta")
        pair = isinstance(one, (tuple, list)) and len(one) == 2
    elif isinstance(module, nn.RNNBase):
        rows = module.num_layers * (2 if module.bidirectional else 1)
        H, pair = module.hidden_size, isinstance(module, nn.LSTM)
    else:
        return ""
    return f"(h, c): 2×({rows}, B, {H})" if pair else f"h: ({rows}, B, {H})"


def _describe(module: nn.Module) -> str:
    if isinstance(module, RNN):
        cell = type(module.cells[0]).__name__
        extra = ", bidirectional" if module.bidirectional else ""
        return (f"{module.name}({module.input_size}→{module.hidden_size}, "
                f"L={module.num_layers}{extra}) [{cell}]")
    if isinstance(module, nn.RNNBase):
        extra = ", bidirectional" if module.bidirectional else ""
        return (f"torch.nn.{type(module).__name__}({module.input_size}→{module.hidden_size}, "
                f"L={module.num_layers}{extra})")
    if isinstance(module, nn.Linear):
        return f"Linear({module.in_features}→{module.out_features})"
    if isinstance(module, nn.Embedding):
        return f"Embedding({module.num_embeddings}, {module.embedding_dim})"
    return type(module).__name__


def layer_rows(model: nn.Module) -> list[dict]:
    """``[{"name", "type", "state", "parameters", "trainable"}]``, one per layer with weights."""
    rows: list[dict] = []

    def visit(name: str, module: nn.Module) -> None:
        own = list(module.parameters(recurse=False))
        whole = isinstance(module, (RNN, nn.RNNBase)) or not any(True for _ in module.children())
        params = list(module.parameters()) if whole else own
        if params or isinstance(module, (RNN, nn.RNNBase)):
            rows.append({"name": name or "(model)", "type": _describe(module),
                         "state": _state(module),
                         "parameters": sum(p.numel() for p in params),
                         "trainable": sum(p.numel() for p in params if p.requires_grad)})
        if not whole:
            for child_name, child in module.named_children():
                visit(f"{name}.{child_name}" if name else child_name, child)

    visit("", model)
    return rows


def summary(model: nn.Module, width: int = 78) -> str:
    """The table as a string (print it): layers, their state sizes, parameters, totals."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"summary: expected a torch.nn.Module, got {type(model).__name__}")
    rows = layer_rows(model)
    # shared parameters count once in the totals
    unique = {id(p): p for p in model.parameters()}.values()
    total = sum(p.numel() for p in unique)
    trainable = sum(p.numel() for p in unique if p.requires_grad)
    nbytes = sum(p.numel() * p.element_size() for p in unique)
    name_w = max([len("Layer")] + [len(r["name"]) for r in rows])
    type_w = max([len("Type")] + [len(r["type"]) for r in rows])
    state_w = max([len("State")] + [len(r["state"]) for r in rows])
    line_w = max(width, name_w + type_w + state_w + 18)
    rule, thin = "═" * line_w, "─" * line_w
    fmt = f"{{:<{name_w}}}  {{:<{type_w}}}  {{:<{state_w}}}  {{:>12}}"
    out = [type(model).__name__, rule, fmt.format("Layer", "Type", "State", "Params"), thin]
    out += [fmt.format(r["name"], r["type"], r["state"], f"{r['parameters']:,}") for r in rows]
    out += [rule, f"Total params: {total:,} ({format_bytes(nbytes)})",
            f"Trainable params: {trainable:,}", f"Non-trainable params: {total - trainable:,}"]
    return "\n".join(out)
