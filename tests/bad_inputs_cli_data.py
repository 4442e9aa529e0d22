# ruff: noqa: E501  (a table, one case per line, read across like tests/test_bad_inputs.py's)
"""Bad command lines of `gpt prepare`, and datasets that `gpt train` cannot use: each must get one clear line, and
leave every file as it was (run by tests/test_bad_inputs.py::test_a_bad_command_line_gets_one_clear_line).

{tmp} is an empty folder, {data} holds the prepared dataset shakespeare/, {run} a finished tiny run (ckpt.npz,
log.jsonl). Every case passes --data-dir, so that none could write into ./data. Cases that need broken files
set up first (a corrupt meta.json, a vocabulary with duplicates, a checkpoint copied over train.bin, ...) are
ordinary tests in tests/test_data_safety.py.
"""

TEXT = "{data}/shakespeare/meta.json"  # a short UTF-8 text that is not tinyshakespeare
PREPARE = ["prepare", "text", "--input", TEXT]

CLI_CASES = [
    # the input file
    (["prepare", "text", "--input", "{tmp}/missing.txt", "--name", "x", "--data-dir", "{tmp}"], 1, "input file not found: "),
    (["prepare", "text", "--input", "{tmp}", "--name", "x", "--data-dir", "{tmp}"], 1, "is a folder, not a file"),
    (["prepare", "text", "--input", "{run}/ckpt.npz", "--name", "x", "--data-dir", "{tmp}"], 1, "ckpt.npz is not valid UTF-8: byte offset"),
    (["prepare", "text", "--input", "/dev/null", "--name", "x", "--data-dir", "{tmp}"], 1, "input file /dev/null is empty: there is nothing to prepare"),
    # the dataset's name and the data folder
    ([*PREPARE, "--name", "", "--data-dir", "{tmp}"], 1, "dataset name must be a plain directory name, got '': it is empty"),
    ([*PREPARE, "--name", ".", "--data-dir", "{tmp}"], 1, "got '.': '.' is not a folder of its own"),
    ([*PREPARE, "--name", "..", "--data-dir", "{tmp}"], 1, "got '..': '..' is not a folder of its own"),
    ([*PREPARE, "--name", "a/b", "--data-dir", "{tmp}"], 1, "it contains a path separator"),
    ([*PREPARE, "--name", "{tmp}/abs", "--data-dir", "{tmp}"], 1, "it is an absolute path"),
    ([*PREPARE, "--name", "x", "--data-dir", "{run}/ckpt.npz"], 1, "ckpt.npz is a checkpoint, not a folder; choose another --data-dir"),
    ([*PREPARE, "--name", "x", "--data-dir", "{run}/log.jsonl/sub"], 1, "log.jsonl is a training log, not a folder"),
    # never over what prepare did not make
    ([*PREPARE, "--name", "shakespeare", "--data-dir", "{data}"], 1, "it holds the dataset of another text"),
    ([*PREPARE, "--name", "shakespeare", "--data-dir", "{data}", "--tokenizer", "bpe", "--vocab-size", "300"], 1, "choose another --name, or move that folder away yourself"),
    ([*PREPARE, "--name", "train.bin", "--data-dir", "{data}/shakespeare"], 1, "train.bin: it is a dataset file, not a folder; choose another --name"),
    ([*PREPARE, "--name", "ckpt.npz", "--data-dir", "{run}"], 1, "ckpt.npz: it is a checkpoint, not a folder"),
    ([*PREPARE, "--name", "log.jsonl", "--data-dir", "{run}"], 1, "log.jsonl: it is a training log, not a folder"),
    # the tokenizer's settings
    ([*PREPARE, "--name", "x", "--data-dir", "{tmp}", "--tokenizer", "bpe"], 1, "a BPE tokenizer needs vocab_size (e.g. --vocab-size 512)"),
    ([*PREPARE, "--name", "x", "--data-dir", "{tmp}", "--tokenizer", "bpe", "--vocab-size", "256"], 1, "a BPE vocab_size must be between 257 (the 256 byte tokens and one merge)"),
    ([*PREPARE, "--name", "x", "--data-dir", "{tmp}", "--tokenizer", "bpe", "--vocab-size", "65537"], 1, "and 65,536 (token ids are stored as uint16), got 65537"),
    ([*PREPARE, "--name", "x", "--data-dir", "{tmp}", "--vocab-size", "300"], 1, "vocab_size (300) is for the BPE tokenizer"),
    ([*PREPARE, "--name", "x", "--data-dir", "{tmp}", "--tokenizer", "bpe", "--vocab-size", "many"], 2, "invalid int value: 'many'"),
    ([*PREPARE, "--name", "x", "--data-dir", "{tmp}", "--tokenizer", "words"], 2, "argument --tokenizer: invalid choice: 'words'"),
    # gpt prepare shakespeare
    (["prepare", "shakespeare", "--input", "{tmp}/missing.txt", "--data-dir", "{tmp}"], 1, "tinyshakespeare file not found: "),
    (["prepare", "shakespeare", "--input", "{tmp}", "--data-dir", "{tmp}"], 1, "is a folder, not a file"),
    (["prepare", "shakespeare", "--input", TEXT, "--data-dir", "{tmp}"], 1, "is not the tinyshakespeare corpus: expected 1,115,394 bytes"),
    (["prepare", "shakespeare", "--input", TEXT, "--data-dir", "{run}/ckpt.npz"], 1, "ckpt.npz is a checkpoint, not a folder"),
    # datasets that gpt train cannot use
    (["train", "--preset", "tiny", "--dataset", "nope", "--data-dir", "{data}", "--out-dir", "{tmp}/out"], 1, "nope/meta.json not found; run `gpt prepare shakespeare`"),
    (["train", "--preset", "tiny", "--dataset", "{tmp}", "--data-dir", "{data}", "--out-dir", "{tmp}/out"], 1, "meta.json not found; run `gpt prepare shakespeare`"),
    (["train", "--preset", "tiny", "--dataset", "{run}", "--data-dir", "{data}", "--out-dir", "{tmp}/out"], 1, "is a training run's folder, not a dataset: --dataset names a prepared dataset"),
    (["train", "--preset", "tiny", "--dataset", TEXT, "--data-dir", "{data}", "--out-dir", "{tmp}/out"], 1, "meta.json is a dataset file, not a dataset folder"),
    (["train", "--preset", "tiny", "--dataset", "{run}/ckpt.npz", "--data-dir", "{data}", "--out-dir", "{tmp}/out"], 1, "ckpt.npz is a checkpoint, not a dataset folder"),
    (["train", "--preset", "tiny", "--dataset", "shakespeare", "--data-dir", "{run}/ckpt.npz", "--out-dir", "{tmp}/out"], 1, "ckpt.npz is a checkpoint, not a folder; choose another --data-dir"),
]  # fmt: skip
