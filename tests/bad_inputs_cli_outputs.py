# ruff: noqa: E501  (a table, one case per line, read across like tests/test_bad_inputs.py's)
"""Bad command lines of the commands that write pages, pictures, int8 copies and results (``gpt explore``,
``gpt quantize``, ``gpt attention``, ``gpt experiment``), run by tests/test_bad_inputs.py: each must fail with
its exit code and one line holding the message, and leave every file of {tmp}, {run} and {data} as it was.

{tmp}: an empty folder; {data}: the prepared datasets (``shakespeare/``); {run}: a copy of a finished tiny
training run (``ckpt.npz``, ``log.jsonl``). Cases that need more setup are in tests/test_safe_outputs.py.
"""

CLI_CASES = [
    # gpt explore: the page goes nowhere but over an earlier page, and every flag is checked before the slow part
    (["explore", "--out-dir", "{run}", "--output", "{run}/ckpt.npz"], 1, "it holds a checkpoint, and only a page made by gpt explore may be replaced there"),
    (["explore", "--out-dir", "{run}", "--output", "{run}/log.jsonl"], 1, "it holds a training log"),
    (["explore", "--out-dir", "{run}", "--output", "{run}"], 1, "it holds a folder"),
    (["explore", "--out-dir", "{run}", "--output", "{data}/shakespeare/train.bin"], 1, "it holds a dataset file"),
    (["explore", "--out-dir", "{run}", "--output", "{run}/ckpt.npz/page.html"], 1, "ckpt.npz is a checkpoint, not a folder"),
    (["explore", "--out-dir", "{run}", "--output", ""], 1, "--output is empty"),
    (["explore", "--out-dir", "{run}/ckpt.npz"], 1, "ckpt.npz is a checkpoint, not a folder: give the training run's folder"),
    (["explore", "--out-dir", "{tmp}"], 1, "no checkpoint at"),
    (["explore", "--out-dir", "{run}", "--steps", "-1"], 2, "argument --steps: must be from 0 to 100"),
    (["explore", "--out-dir", "{run}", "--steps", "many"], 2, "argument --steps: expects an integer, got 'many'"),
    (["explore", "--out-dir", "{run}", "--steps", "100000"], 2, "(the page holds the numbers of every step), got 100000"),
    (["explore", "--out-dir", "{run}", "--prompt", "héllo"], 1, "--prompt has characters that are not in the model's vocabulary: 'é'"),
    (["explore", "--out-dir", "{run}", "--prompt", ""], 1, "--prompt is empty"),
    (["explore", "--out-dir", "{run}", "--serve", "--port", "70000"], 2, "argument --port: must be from 0 to 65535 (0 picks a free one), got 70000"),
    (["explore", "--out-dir", "{run}", "--serve", "--port", "-1"], 2, "argument --port: must be from 0 to 65535"),
    (["explore", "--out-dir", "{run}", "--serve", "--port", "0", "--host", "192.0.2.1"], 1, "cannot serve on --host 192.0.2.1: it is not an address of this machine"),
    (["explore", "--out-dir", "{run}", "--device", "tpu"], 1, "unknown device 'tpu'"),
    # gpt quantize: never over the run it reads, a file, another run or a dataset
    (["quantize", "--out-dir", "{run}", "--to", "{run}"], 1, "is the run being quantized: its float32 checkpoint would be replaced"),
    (["quantize", "--out-dir", "{run}", "--to", "{run}/../run"], 1, "is the run being quantized"),
    (["quantize", "--out-dir", "{run}", "--to", "{run}/ckpt.npz"], 1, "ckpt.npz is a checkpoint, not a folder: name a folder for the int8 copy"),
    (["quantize", "--out-dir", "{run}", "--to", "{data}/shakespeare"], 1, "holds a dataset (its train.bin): the int8 copy needs a folder of its own"),
    (["quantize", "--out-dir", "{run}", "--to", ""], 1, "--to is empty"),
    (["quantize", "--out-dir", "{run}", "--group-size", "0"], 2, "argument --group-size/--group_size: must be at least 1, got 0"),
    (["quantize", "--out-dir", "{run}", "--group-size", "a lot"], 2, "argument --group-size/--group_size: expects an integer, got 'a lot'"),
    (["quantize", "--out-dir", "{run}", "--eval-iters", "0"], 2, "argument --eval-iters/--eval_iters: must be at least 1, got 0"),
    (["quantize", "--out-dir", "{run}/log.jsonl"], 1, "log.jsonl is a training log, not a folder"),
    (["quantize", "--out-dir", "{tmp}"], 1, "no checkpoint at"),
    # gpt attention: the pictures go into a folder, over nothing but earlier pictures
    (["attention", "--out-dir", "{run}", "--save-dir", "{run}/ckpt.npz"], 1, "ckpt.npz is a checkpoint, not a folder: name a folder for the heat maps"),
    (["attention", "--out-dir", "{run}", "--save-dir", "{run}/log.jsonl/maps"], 1, "log.jsonl is a training log, not a folder"),
    (["attention", "--out-dir", "{run}", "--save-dir", ""], 1, "--save-dir is empty"),
    (["attention", "--out-dir", "{run}", "--prompt", ""], 1, "--prompt is empty"),
    (["attention", "--out-dir", "{run}", "--prompt", "a €"], 1, "--prompt has characters that are not in the model's vocabulary: '€'"),
    (["attention", "--out-dir", "{run}/ckpt.npz"], 1, "ckpt.npz is a checkpoint, not a folder"),
    (["attention", "--out-dir", "{tmp}"], 1, "no checkpoint at"),
    # gpt experiment: results go into a folder, over nothing but the same experiment's earlier results
    (["experiment", "modern", "--quick", "--data-dir", "{data}", "--out-dir", "{run}/ckpt.npz"], 1, "ckpt.npz is a checkpoint, not a folder: name a folder for the results"),
    (["experiment", "ablation", "--quick", "--data-dir", "{data}", "--out-dir", "{run}/log.jsonl"], 1, "log.jsonl is a training log, not a folder"),
    (["experiment", "addition", "--quick", "--out-dir", "{run}/ckpt.npz/results"], 1, "ckpt.npz is a checkpoint, not a folder"),
    (["experiment", "addition", "--quick", "--out-dir", ""], 1, "--out-dir is empty"),
    (["experiment", "modern", "--quick", "--steps", "0"], 2, "argument --steps: must be at least 1, got 0"),
    (["experiment", "ablation", "--quick", "--lr", "-0.1"], 2, "argument --lr: must be a finite number > 0, got -0.1"),
    (["experiment", "calculator", "--quick", "--eval-iters", "none"], 2, "argument --eval-iters/--eval_iters: expects an integer, got 'none'"),
]  # fmt: skip
