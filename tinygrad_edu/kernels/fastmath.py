"""The two fastmath flags the CPU kernels use, and why.

``reassoc`` lets LLVM add a sum up in any order, so a reduction (a row's sum, a dot product) is split across
SIMD lanes instead of waiting on one running total (figures: ``benchmarks/NOTES.md`` §8). It is given only to
kernels that reduce. The other fastmath flags stay off: ``nnan`` and ``ninf`` would let the compiler assume
that no NaN or infinity occurs, and the kernels must carry them through as NumPy does (a causal mask writes
-inf). Sums in another order differ by rounding only; the tests compare every kernel with its reference op,
which sums in NumPy's pairwise order.
"""

SUMS_IN_ANY_ORDER = {"reassoc"}

# ``contract`` lets LLVM fuse a multiply and an add into one FMA instruction, rounded once instead of twice:
# ``exp.py``'s polynomial is a chain of them (``benchmarks/NOTES.md`` §12). Given
# only to the kernels that evaluate exp: one rounding fewer is not always closer. a·b - c with c = a·b already
# rounded cancels exactly when both round, and leaves the product's rounding error when fused (layer norm's
# backward on a 1-wide row gave 3.5e-8 instead of 0: that error, times 1/√ε).
FUSED_MULTIPLY_ADD = {"contract"}
