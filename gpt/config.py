"""Training configuration and the named presets.

A run is described by two dataclasses: ``GPTConfig`` (the model, in ``gpt/model.py``) and ``TrainConfig``
(data, optimisation, evaluation, where to write). A preset is a flat dict of field values for both; command
line overrides (``--n_layer 2``) go to whichever dataclass has that field.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

from .model import GPTConfig


class ConfigError(ValueError):
    """A config value outside its domain; ``field`` names it, so the command line can name its flag."""

    def __init__(self, field_name: str | None, message: str):
        super().__init__(message)
        self.field = field_name


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
        _check_types(self)
        at_least = {
            "batch_size": 1,
            "gradient_accumulation_steps": 1,
            "eval_interval": 1,
            "eval_iters": 1,
            "log_interval": 1,
            "max_iters": 0,
            "warmup_iters": 0,
            "lr_decay_iters": 0,
            "sample_chars": 0,
        }
        for name, low in at_least.items():
            if getattr(self, name) < low:
                raise ConfigError(name, f"{name} must be >= {low}, got {getattr(self, name)}")
        for name in ("learning_rate", "min_lr", "weight_decay", "beta1", "beta2"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(name, f"{name} must be a finite number, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ConfigError("learning_rate", f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.min_lr <= self.learning_rate:
            raise ConfigError(
                "min_lr",
                f"min_lr must be in [0, learning_rate = {self.learning_rate}] (the schedule decays to it), "
                f"got {self.min_lr}",
            )
        if self.lr_decay_iters and self.lr_decay_iters < self.warmup_iters:
            raise ConfigError(
                "lr_decay_iters",
                f"lr_decay_iters must be 0 (decay over max_iters) or >= warmup_iters ({self.warmup_iters}), "
                f"got {self.lr_decay_iters}",
            )
        if self.weight_decay < 0:
            raise ConfigError("weight_decay", f"weight_decay must be >= 0, got {self.weight_decay}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(name, f"{name} must be in [0, 1), got {getattr(self, name)}")
        if math.isnan(self.grad_clip) or self.grad_clip < 0:
            raise ConfigError("grad_clip", f"grad_clip must be >= 0 (0 turns clipping off), got {self.grad_clip}")
        if not -(2**63) <= self.seed < 2**64:  # torch.manual_seed's range
            raise ConfigError("seed", f"seed must be an integer in [-2**63, 2**64), got {self.seed}")
        self.seed %= 2**64  # a negative seed means its two's complement, as in torch.manual_seed
        for name in ("dataset", "out_dir"):
            if getattr(self, name).strip() == "":
                raise ConfigError(name, f"{name} is empty: name a {'dataset' if name == 'dataset' else 'folder'}")
        if self.data_dir is not None and self.data_dir.strip() == "":
            raise ConfigError("data_dir", "data_dir is empty: leave it out for the default, or name a folder")
        if self.on_nonfinite not in ("stop", "skip"):
            raise ConfigError("on_nonfinite", f"on_nonfinite must be 'stop' or 'skip', got {self.on_nonfinite!r}")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError("dtype", f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

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


def _check_types(config) -> None:
    """Each field holds its annotated type: an int where ``int`` is written (a bool is not one), a number where
    ``float`` is, a string where ``str`` is (``None`` where the annotation allows it)."""
    for spec in dataclasses.fields(config):
        value, kind = getattr(config, spec.name), str(spec.type)
        if value is None and "None" in kind:
            continue
        if kind.startswith("int"):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind.startswith("float"):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif kind.startswith("bool"):
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            expected = kind.split(" ")[0]
            raise ConfigError(spec.name, f"{spec.name} must be {expected}, got {value!r} ({type(value).__name__})")
    for spec in dataclasses.fields(config):
        if str(spec.type).startswith("float") and isinstance(getattr(config, spec.name), int):
            setattr(config, spec.name, float(getattr(config, spec.name)))


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
    try:
        GPTConfig(**model)  # checked now, before any work (the vocabulary size comes later, from the dataset)
    except ValueError as exc:
        named = re.match(r"GPTConfig[.:] ?(\w+)", str(exc))
        raise ConfigError(named.group(1) if named and named.group(1) in MODEL_FIELDS else None, str(exc)) from None
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
