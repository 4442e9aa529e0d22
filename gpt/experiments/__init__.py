"""Reproducible experiments (``gpt experiment NAME``): the lecture's exercises and the ablation study.

Each module has ``main(argv) -> int`` and writes a CSV, a JSON, a markdown table and a PNG plot under its
``--out-dir`` (default ``out/experiments/<name>``):

* ``ablation``: which parts of the GPT matter (the lecture's ladder, and one switch of ``GPTConfig`` at a time);
* ``lecture_ladder``: the lecture's rungs at its own settings, on tinygrad_edu and PyTorch, beside its figures;
* ``addition``: a GPT that learns to add, with answers written right to left or left to right;
* ``calculator``: + − × ÷ with and without schoolbook (chain-of-thought) traces;
* ``pretrain_finetune``: pretrain on a large English corpus, fine-tune on tinyshakespeare, against from scratch;
* ``modern``: RoPE and SwiGLU against the GPT-2 baseline, over several seeds.
"""
