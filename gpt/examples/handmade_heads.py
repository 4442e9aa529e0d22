"""Attention heads built by hand: choose W_q, W_k and W_v so that a head computes something we decide.

Run it with ``python -m gpt.examples.handmade_heads``. Every letter is embedded as the vector
(is vowel, is consonant), so "a" is (1, 0) and "s" is (0, 1). One head of causal self-attention then computes,
for each position t (all matrices are printed step by step):

    Q = X W_q,  K = X W_k,  V = X W_v          one query, key and value per token
    S = Q Kᵀ                                  S[t, j]: how much token t "likes" token j
    S[t, j] = -inf for j > t                  the causal mask: nobody looks at the future
    A = softmax(S) row by row                 attention weights, each row sums to 1
    out = A V                                 each token's output: a weighted average of the values

Three heads:

1. "has a consonant occurred so far?": keys make consonants very attractive (score 10, vowels 0) and the
   value is "is consonant". If the past holds a consonant, almost all weight goes to consonants and the
   output is ~1; if it holds only vowels, the weights are uniform over vowels and the output is exactly 0.
2. "what fraction of the letters so far are consonants?": all scores are equal (W_q = 0), so each row of A
   is uniform over the past, and the average of "is consonant" is the proportion of consonants.
3. "is the first letter a consonant?": a third embedding dimension is 1 only at position 1 (added by a
   position embedding). Keys score that dimension, so every token attends to the first letter, and the value
   "is consonant" reads out that letter's consonant bit.

Every function checks its own answer with ``assert``, so running this file verifies the heads.
"""

from __future__ import annotations

import numpy as np

import tinygrad_edu as torch
from tinygrad_edu.nn import functional as F

VOWELS = set("aeiou")
BIG = 10.0  # a score gap of 10 gives weights e^10 : 1, i.e. ~99.995% on the favoured tokens


def embed(word: str, first_position_flag: bool = False):
    """(T, 2) embeddings (is vowel, is consonant), or (T, 3) with a third column that is 1 only at position 1
    (the token embedding plus a position embedding whose only non-zero entry is at the first position)."""
    rows = [[float(ch in VOWELS), float(ch not in VOWELS)] for ch in word.lower()]
    x = torch.tensor(rows)
    if not first_position_flag:
        return x
    position = torch.zeros(len(word), 3)
    position[0, 2] = 1.0  # the position embedding: only position 1 (index 0) gets the flag
    return torch.cat((x, torch.zeros(len(word), 1)), dim=1) + position


def show(name: str, matrix, rows: list[str] | None = None, cols: list[str] | None = None) -> None:
    """Print a matrix with letters as row and column labels (like a small spreadsheet)."""
    m = matrix.numpy() if hasattr(matrix, "numpy") else np.asarray(matrix)
    m = m.reshape(m.shape[0], -1)
    cols = cols or [f"[{j}]" for j in range(m.shape[1])]
    rows = rows or [f"[{i}]" for i in range(m.shape[0])]
    print(f"{name}  {tuple(m.shape)}")
    print("      " + "".join(f"{c:>8}" for c in cols))
    for label, row in zip(rows, m):
        print(f"  {label:>3} " + "".join(f"{v:>8.3f}" if np.isfinite(v) else f"{'-inf':>8}" for v in row))
    print()


def attention_head(x, w_q, w_k, w_v, word: str, verbose: bool = True):
    """One causal attention head on embeddings ``x`` (T, C), printing every intermediate; returns (T, d_v).

    No 1/sqrt(d) scaling here: with hand-chosen weights we pick the score scale ourselves (``BIG``).
    """
    letters = list(word)
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = q @ k.transpose(0, 1)
    T = len(word)
    future = ~torch.tril(torch.ones(T, T, dtype=torch.bool))  # True above the diagonal
    masked = scores.masked_fill(future, float("-inf"))
    weights = F.softmax(masked, dim=-1)
    out = weights @ v
    if verbose:
        show("X (embeddings)", x, letters, ["vowel", "cons", "pos1"][: x.shape[1]])
        show("Q = X W_q", q, letters)
        show("K = X W_k", k, letters)
        show("V = X W_v", v, letters)
        show("S = Q Kᵀ (rows: queries, columns: keys)", scores, letters, letters)
        show("S with the causal mask", masked, letters, letters)
        show("A = softmax(S)", weights, letters, letters)
        show("out = A V", out, letters)
    return out


def consonant_seen_head(word: str, verbose: bool = True) -> np.ndarray:
    """Head 1: output[t] ≈ 1 if a consonant occurs in word[:t+1], else exactly 0."""
    x = embed(word)
    w_q = torch.tensor([[1.0], [1.0]])  # every token asks the same question: q = 1
    w_k = torch.tensor([[0.0], [BIG]])  # ... and a consonant answers loudest: k = 10 for consonants, 0 for vowels
    w_v = torch.tensor([[0.0], [1.0]])  # what gets averaged: "is consonant"
    out = attention_head(x, w_q, w_k, w_v, word, verbose).numpy()[:, 0]
    for t in range(len(word)):
        seen = any(ch not in VOWELS for ch in word[: t + 1])
        assert (out[t] > 0.99) if seen else (out[t] == 0.0), (word, t, out[t])
    return out


def consonant_fraction_head(word: str, verbose: bool = True) -> np.ndarray:
    """Head 2: output[t] = the fraction of consonants in word[:t+1]."""
    x = embed(word)
    w_q = torch.zeros(2, 1)  # all scores 0: softmax makes each row uniform over the past
    w_k = torch.zeros(2, 1)
    w_v = torch.tensor([[0.0], [1.0]])
    out = attention_head(x, w_q, w_k, w_v, word, verbose).numpy()[:, 0]
    expected = np.array([sum(ch not in VOWELS for ch in word[: t + 1]) / (t + 1) for t in range(len(word))])
    assert np.allclose(out, expected, atol=1e-6), (word, out, expected)
    return out


def first_is_consonant_head(word: str, verbose: bool = True) -> np.ndarray:
    """Head 3: output[t] ≈ 1 if word[0] is a consonant, ≈ 0 if it is a vowel, at every position t."""
    x = embed(word, first_position_flag=True)
    w_q = torch.tensor([[1.0], [1.0], [1.0]])  # q = 1 for every token (each is a vowel or a consonant)
    w_k = torch.tensor([[0.0], [0.0], [BIG]])  # only the first position has a key: score 10 against 0
    w_v = torch.tensor([[0.0], [1.0], [0.0]])  # read out the attended token's "is consonant"
    out = attention_head(x, w_q, w_k, w_v, word, verbose).numpy()[:, 0]
    first = float(word[0] not in VOWELS)
    # the weight on position 1 is e^10 / (e^10 + t) for t other tokens: > 0.999 for words shorter than 20
    assert np.allclose(out, first, atol=1e-3), (word, out, first)
    return out


def main() -> int:
    for title, head, word in (
        ("Head 1: has a consonant occurred up to this token?", consonant_seen_head, "strength"),
        ("Head 1 again, on a word that starts with vowels", consonant_seen_head, "audio"),
        ("Head 2: the proportion of consonants so far", consonant_fraction_head, "strength"),
        ("Head 3: is the first letter a consonant?", first_is_consonant_head, "strength"),
        ("Head 3 again, on a word that starts with a vowel", first_is_consonant_head, "either"),
    ):
        print("=" * 80)
        print(f"{title}  (word: {word!r})")
        print("=" * 80)
        out = head(word)
        print("answer per letter: " + "  ".join(f"{ch}={v:.3f}" for ch, v in zip(word, out)))
        print()
    for word in ("strength", "audio", "eat", "oops", "a", "rhythm", "queue"):  # quiet checks of all three heads
        consonant_seen_head(word, verbose=False)
        consonant_fraction_head(word, verbose=False)
        first_is_consonant_head(word, verbose=False)
    print("all three heads give the answers the task asks for (checked by assert).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
