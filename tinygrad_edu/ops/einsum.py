"""``einsum``: a sum of products named by letters, ``"ij,jk->ik"`` for a matrix product.

Its backward is an einsum too: the gradient of one operand is the output's gradient times the other operands,
summed over the letters that operand does not have. Two constants complete it: ones for the letters only that
operand has (its gradient is the same all along them), and an identity tying a repeated letter (``"ii"``, a
diagonal) to a fresh one.
"""

from __future__ import annotations

import string

from .. import backend
from .op import Op


class Einsum(Op):
    """out = Σ_(letters not in the output) Π_i operand_i: d out/d operand_i is that sum without operand_i"""

    @staticmethod
    def forward(ctx, *operands, inputs, output):
        ctx.subscripts, ctx.output = inputs, output
        ctx.shapes = tuple(o.shape for o in operands)
        ctx.save_for_backward(*operands)
        # optimize=True lets NumPy hand a product over shared letters to BLAS (a matmul); without it, einsum
        # multiplies and adds with its own loop, ~10x slower on "bij,bjk->bik" at the baby GPT's sizes
        out = ctx.xp.einsum(",".join(inputs) + "->" + output, *operands, optimize=True)
        ctx.dtype = out.dtype
        return out

    @staticmethod
    def backward(ctx, grad):
        operands = ctx.saved_tensors
        sizes = {}  # each letter's size (a size-1 dim is broadcast against the others)
        for subscripts, shape in zip(ctx.subscripts, ctx.shapes):
            for letter, n in zip(subscripts, shape):
                sizes[letter] = max(sizes.get(letter, 1), n)
        xp = backend.array_module(ctx.device)  # the constants are arrays, also when backward is recorded
        grads = []
        for i, subscripts in enumerate(ctx.subscripts):
            if not ctx.needs_input_grad[i]:
                grads.append(None)
                continue
            terms = [(ctx.output, grad)] + [(s, o) for j, (s, o) in enumerate(zip(ctx.subscripts, operands)) if j != i]
            seen = set("".join(s for s, _ in terms))
            fresh = iter(sorted(set(string.ascii_letters) - set("".join(ctx.subscripts) + ctx.output)))
            target = ""
            for letter in subscripts:
                if letter in target:  # a repeated letter: a fresh one, equal to it through an identity
                    new = next(fresh)
                    terms.append((letter + new, xp.eye(sizes[letter], dtype=ctx.dtype)))
                    target += new
                else:
                    target += letter
            missing = "".join(dict.fromkeys(letter for letter in subscripts if letter not in seen))
            if missing:
                terms.append((missing, xp.ones([sizes[letter] for letter in missing], dtype=ctx.dtype)))
            g = ctx.run(Einsum, *(t for _, t in terms), inputs=tuple(s for s, _ in terms), output=target)
            broadcast = tuple(k for k, n in enumerate(ctx.shapes[i]) if n == 1 and sizes[subscripts[k]] > 1)
            grads.append(g.sum(axis=broadcast, keepdims=True) if broadcast else g)
        return tuple(grads)


def parse_equation(equation: str, ndims: list) -> tuple:
    """PyTorch's einsum equation as (one string of letters per operand, the output's letters): ``...`` becomes
    letters of its own (aligned from the right, as broadcasting), and without ``->`` the output is the
    ``...`` dims then the letters used once, in alphabetical order."""
    equation = equation.replace(" ", "")
    left, arrow, right = equation.partition("->")
    terms = left.split(",")
    if len(terms) != len(ndims):
        raise RuntimeError(f"einsum(): the equation has {len(terms)} operands but {len(ndims)} were given")
    for term in (*terms, right):
        if any(c not in string.ascii_letters for c in term.replace("...", "")):
            raise RuntimeError(f"einsum(): invalid subscript in {equation!r}: only letters a-z, A-Z and '...'")
    free = [c for c in string.ascii_letters if c not in equation]
    spans = [ndim - len(t.replace("...", "")) for t, ndim in zip(terms, ndims)]
    width = max([k for t, k in zip(terms, spans) if "..." in t], default=0)
    dots = "".join(free[:width])
    expanded = []
    for i, (term, ndim, k) in enumerate(zip(terms, ndims, spans)):
        if "..." in term:
            term = term.replace("...", dots[width - k :] if k > 0 else "")
        if len(term) != ndim or k < 0:
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(term)}) does not match the number of "
                f"dimensions ({ndim}) for operand {i}{' and no ellipsis was given' if '...' not in terms[i] else ''}"
            )
        expanded.append(term)
    if arrow:
        output = right.replace("...", dots)
        unknown = set(output) - set("".join(expanded))
        if unknown or len(set(output)) != len(output):
            raise RuntimeError(f"einsum(): output subscripts {right!r} must appear in an operand, each once")
    else:
        letters = "".join(expanded)
        output = dots + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in dots))
    return tuple(expanded), output
