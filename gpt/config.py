"""Training configuration and the named presets.

A run is described by two dataclasses: ``GPTConfig`` (the model, in ``gpt/model.py``) and ``TrainConfig``
(data, optimisation, evaluation, where to write). A preset is a flat dict of field values for both; command
line overrides (``--n_layer 2``) go to whichever dataclass has that field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .model import GPTConfig


@dataclass
class TrainConfig:
    # data and output
    dataset: str = "shakespeare"  # a name under the data directory, or a path to a prepared dataset
    data_dir: str | None = None  # default: GPT_DATA_DIR or <repo>/data
    out_dir: str = "out/baby"
    # optimisation: AdamW with linear warm-up, then cosine decay to min_lr
    batch_size: int = 12
    gradient_accumulation_steps: int = 1
    max_iters: int = 2000
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int = 0  # 0: decay over max_iters
    decay_lr: bool = True
    weight_decay: float = 0.1  # applied to matrices (dim >= 2) only
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # 0 disables clipping
    # evaluation, logging, checkpoints
    eval_interval: int = 250
    eval_iters: int = 200
    log_interval: int = 10
    checkpoint: bool = True
    sample_chars: int = 500  # characters printed after training (0: none)
    # a NaN or inf loss or gradient norm: "stop" (keep the last good checkpoint) or "skip" that step's update
    on_nonfinite: str = "stop"
    # reproducibility and hardware
    seed: int = 1337
    device: str = "cpu"
    dtype: str = "float32"
    progress: bool = True

    def __post_init__(self):
        positive = ("batch_size", "gradient_accumulation_steps", "eval_interval", "eval_iters", "log_interval")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_iters < 0 or self.warmup_iters < 0:
            raise ValueError("max_iters and warmup_iters must be >= 0")
        if self.on_nonfinite not in ("stop", "skip"):
            raise ValueError(f"on_nonfinite must be 'stop' or 'skip', got {self.on_nonfinite!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.learning_rate <= 0 or self.min_lr < 0:
            raise ValueError("learning_rate must be > 0 and min_lr >= 0")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# The presets, one column each, so they can be compared at a glance: `baby` is nanoGPT's shakespeare_char
# "baby GPT" recipe; `lecture` is the network of the "Let's build GPT" lecture (6 layers, 6 heads, 384 wide,
# 256 context) with a cosine schedule; `tiny` runs the whole pipeline in seconds, for CI and smoke tests.
# A field a preset leaves at the dataclass default is None in its column.
PRESET_NAMES = ("baby", "lecture", "tiny")
PRESET_TABLE: dict[str, tuple] = {
    # field            baby         lecture        tiny
    "n_layer":        (4,           6,             1),
    "n_head":         (4,           6,             2),
    "n_embd":         (128,         384,           16),
    "block_size":     (64,          256,           16),
    "dropout":        (0.0,         0.2,           0.0),
    "batch_size":     (12,          64,            4),
    "learning_rate":  (1e-3,        1e-3,          1e-3),
    "min_lr":         (1e-4,        1e-4,          1e-4),
    "max_iters":      (2000,        5000,          20),
    "eval_interval":  (250,         500,           10),
    "eval_iters":     (200,         200,           2),
    "warmup_iters":   (100,         100,           2),
    "out_dir":        ("out/baby",  "out/lecture", "out/tiny"),
    "sample_chars":   (None,        None,          100),
}  # fmt: skip
PRESETS: dict[str, dict] = {
    name: {field: column[i] for field, column in PRESET_TABLE.items() if column[i] is not None}
    for i, name in enumerate(PRESET_NAMES)
}

MODEL_FIELDS = {f.name: f for f in dataclasses.fields(GPTConfig)}
TRAIN_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


@dataclass
class RunConfig:
    """The model's fields (vocab_size excepted: it comes from the dataset) and the training config."""

    model: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)


def build_config(preset: str | None = None, overrides: dict | None = None) -> RunConfig:
    """Start from a preset (or the defaults), apply overrides, and split the fields between model and training."""
    values: dict = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}: choose one of {sorted(PRESETS)}")
        values.update(PRESETS[preset])
    values.update(overrides or {})
    unknown = sorted(k for k in values if k not in MODEL_FIELDS and k not in TRAIN_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown config field(s) {unknown}; model fields: {sorted(MODEL_FIELDS)}; "
            f"training fields: {sorted(TRAIN_FIELDS)}"
        )
    if "vocab_size" in values:
        raise ValueError("vocab_size comes from the dataset's vocabulary and cannot be overridden")
    model = {k: v for k, v in values.items() if k in MODEL_FIELDS}
    train = TrainConfig(**{k: v for k, v in values.items() if k in TRAIN_FIELDS})
    return RunConfig(model=model, train=train)


def parse_value(name: str, text: str):
    """Convert a command-line string to the type of the config field ``name``."""
    spec = MODEL_FIELDS.get(name) or TRAIN_FIELDS.get(name)
    if spec is None:
        raise ValueError(f"unknown config field {name!r}")
    kind = spec.type if isinstance(spec.type, str) else getattr(spec.type, "__name__", str(spec.type))
    if text.lower() == "none" and "None" in kind:
        return None
    if kind.startswith("bool"):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--{name} expects true or false, got {text!r}")
    try:
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
    except ValueError:
        raise ValueError(f"--{name} expects {kind.split(' ')[0]}, got {text!r}") from None
    return text
