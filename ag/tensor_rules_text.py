"""Tensor backward rules as text, one template per input, for traces and answer keys.

Placeholders: ``{a}``, ``{b}`` (the inputs), ``{out}`` (the node), ``{n}`` (a number
exponent). Gradients that broadcasting stretched are summed back to the input's
shape; the templates leave that step implicit, as the course's notes do.
"""

from __future__ import annotations

from typing import Any

TENSOR_RULES: dict[str, tuple[str, ...]] = {
    "add": ("{a}.grad += {out}.grad", "{b}.grad += {out}.grad"),
    "sub": ("{a}.grad += {out}.grad", "{b}.grad += -{out}.grad"),
    "mul": ("{a}.grad += {out}.grad * {b}.value", "{b}.grad += {out}.grad * {a}.value"),
    "div": ("{a}.grad += {out}.grad / {b}.value",
            "{b}.grad += -{out}.grad * {out}.value / {b}.value"),
    "pow": ("{a}.grad += {out}.grad * {b}.value * {a}.value**({b}.value - 1)",
            "{b}.grad += {out}.grad * {out}.value * log({a}.value)"),
    "pow_const": ("{a}.grad += {out}.grad * {n} * {a}.value**({n} - 1)",),
    "neg": ("{a}.grad += -{out}.grad",),
    "exp": ("{a}.grad += {out}.grad * {out}.value",),
    "log": ("{a}.grad += {out}.grad / {a}.value",),
    "sqrt": ("{a}.grad += {out}.grad / (2 * {out}.value)",),
    "abs": ("{a}.grad += {out}.grad * sign({a}.value)",),
    "relu": ("{a}.grad += {out}.grad * ({a}.value > 0)",),
    "tanh": ("{a}.grad += {out}.grad * (1 - {out}.value**2)",),
    "sigmoid": ("{a}.grad += {out}.grad * {out}.value * (1 - {out}.value)",),
    "bce_with_logits": ("{a}.grad += {out}.grad * (sigmoid({a}.value) - targets)",),
    "maximum": ("{a}.grad += {out}.grad * ({a}.value >= {b}.value)",
                "{b}.grad += {out}.grad * ({a}.value < {b}.value)"),
    "minimum": ("{a}.grad += {out}.grad * ({a}.value <= {b}.value)",
                "{b}.grad += {out}.grad * ({a}.value > {b}.value)"),
    "where": ("{a}.grad += {out}.grad * cond", "{b}.grad += {out}.grad * (1 - cond)"),
    "clip": ("{a}.grad += {out}.grad * (low <= {a}.value <= high)",),
    "matmul": ("{a}.grad += {out}.grad @ {b}.value.T", "{b}.grad += {a}.value.T @ {out}.grad"),
    "spcmatmul": ("{a}.grad += spcmatmul({out}.grad, S.T)",),
    "sum": ("{a}.grad += broadcast({out}.grad)",),
    "cross_entropy": ("{a}.grad += (softmax({a}.value) - onehot(labels)) * {out}.grad / n",),
    "mean": ("{a}.grad += broadcast({out}.grad) / count",),
    "max": ("{a}.grad += {out}.grad * ({a}.value == {out}.value) / count",),
    "min": ("{a}.grad += {out}.grad * ({a}.value == {out}.value) / count",),
    "reshape": ("{a}.grad += {out}.grad.reshape({a}.shape)",),
    "transpose": ("{a}.grad += {out}.grad.transpose(inverse axes)",),
    "broadcast_to": ("{a}.grad += {out}.grad summed to {a}.shape",),
    "getitem": ("{a}.grad[index] += {out}.grad",),
    "checkpoint": ("{x}.grad += backprop of {out}.grad through the recomputed fn",),
    "to": ("{a}.grad += {out}.grad moved to {a}'s device",),
    "index_add": ("{a}.grad += {out}.grad[index]",),
    "concatenate": ("{x}.grad += {out}.grad[slice k]",),
    "stack": ("{x}.grad += {out}.grad[k]",),
    "softmax": ("{a}.grad += {out}.value * ({out}.grad - sum({out}.grad * {out}.value))",),
    "log_softmax": ("{a}.grad += {out}.grad - exp({out}.value) * sum({out}.grad)",),
    "logsumexp": ("{a}.grad += {out}.grad * exp({a}.value - {out}.value)",),
}


def rule_templates(node: Any) -> tuple[str, ...]:
    """The text of a Tensor node's backward rule, one template per input."""
    if not node.inputs:
        return ()
    key = "pow_const" if node.op == "pow" and len(node.inputs) == 1 else node.op
    templates = TENSOR_RULES.get(key, ("{a}.grad += (rule of " + node.op + ")",))
    if len(templates) < len(node.inputs):  # concatenate/stack: one line per input
        # {a}..{f} are the names the trace fills in (the inputs' labels); past six, by position
        names = [f"{{{c}}}" for c in "abcdef"][: len(node.inputs)]
        names += [f"input {k}" for k in range(len(names), len(node.inputs))]
        templates = tuple(
            templates[0].replace("{x}", name).replace(" k", f" {k}") for k, name in enumerate(names)
        )
    return templates[: len(node.inputs)]
