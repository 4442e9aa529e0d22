"""Reproducible experiments (``gpt experiment NAME``): the lecture's exercises and the ablation study.

Each module has ``main(argv) -> int`` and writes a CSV, a JSON, a markdown table and a PNG plot under its
``--out-dir`` (default ``out/experiments/<name>``):

* ``ablation``: which parts of the GPT matter (the lecture's ladder, and one switch of ``GPTConfig`` at a time);
* ``addition``: a GPT that learns to add, with answers written right to left or left to right;
* ``pretrain_finetune``: pretrain on a large English corpus, fine-tune on tinyshakespeare, against from scratch;
* ``modern``: RoPE and SwiGLU against the GPT-2 baseline, over several seeds.
"""
