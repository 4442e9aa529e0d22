"""Training configuration and the named presets.

A run is described by two dataclasses, held together by ``RunConfig``: ``GPTConfig`` (the model, in
``gpt/model.py``) and ``TrainConfig`` (data, optimisation, evaluation, where to write). A preset is a flat dict
of field values for both; command line overrides (``--n-layer 2``) go to whichever dataclass has that field.
The flags are derived from the dataclasses' fields (``config_flags``): a field added to either is a flag.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .arguments import FieldFlag, field_flags, field_types
from .model import GPTConfig


class ConfigError(ValueError):
    """A config value outside its domain; ``field`` names it, so the command line can name its flag."""

    def __init__(self, field_name: str | None, message: str):
        super().__init__(message)
        self.field = field_name


def setting(default, description: str):
    """A config field with its description: the help of its flag (``gpt/arguments.py`` derives the flags)."""
    return field(default=default, metadata={"help": description})


@dataclass
class TrainConfig:
    # data and output
    dataset: str = setting("shakespeare", "a name under the data directory, or a path to a prepared dataset")
    data_dir: str | None = setting(None, "where prepared datasets live (none: $GPT_DATA_DIR or <repo>/data)")
    out_dir: str = setting("out/baby", "the run's folder: its checkpoint ckpt.npz and log log.jsonl")
    # optimisation: AdamW with linear warm-up, then cosine decay to min_lr
    batch_size: int = setting(12, "sequences per micro-batch (per process under mpiexec)")
    gradient_accumulation_steps: int = setting(1, "micro-batches whose gradients make one optimizer step")
    max_iters: int = setting(2000, "optimizer steps of the whole run")
    learning_rate: float = setting(1e-3, "AdamW's learning rate after the warm-up")
    min_lr: float = setting(1e-4, "the learning rate the cosine decay ends at")
    warmup_iters: int = setting(100, "steps of linear warm-up")
    lr_decay_iters: int = setting(0, "the step the cosine decay ends at (0: max_iters)")
    decay_lr: bool = setting(True, "warm up, then decay the learning rate (false: learning_rate throughout)")
    weight_decay: float = setting(0.1, "AdamW's weight decay, on matrices (dim >= 2) only")
    beta1: float = setting(0.9, "AdamW's beta1: the decay of the gradients' running mean")
    beta2: float = setting(0.99, "AdamW's beta2: the decay of the squared gradients' running mean")
    grad_clip: float = setting(1.0, "clip the gradients' global norm to this (0: no clipping)")
    # evaluation, logging, checkpoints
    eval_interval: int = setting(250, "evaluate both splits, and write the checkpoint, every this many steps")
    eval_iters: int = setting(200, "batches of each split an evaluation averages over")
    log_interval: int = setting(10, "show the training loss every this many steps")
    checkpoint: bool = setting(True, "write OUT_DIR/ckpt.npz at every evaluation")
    sample_chars: int = setting(500, "characters of text sampled after training (0: none)")
    on_nonfinite: str = setting(
        "stop", "a NaN or inf loss or gradient norm: 'stop' (keep the last good checkpoint) or 'skip' the update"
    )
    # reproducibility and hardware
    seed: int = setting(1337, "seeds the initial weights, the batches and dropout")
    device: str = setting("cpu", "'cpu' or 'cuda'")
    dtype: str = setting("float32", "'float32' or 'float64'")
    progress: bool = setting(True, "show a progress bar")
    tensorboard: bool = setting(False, "also write TensorBoard event files to OUT_DIR/tensorboard (extra: tensorboard)")
    compile: bool = setting(False, "trace each micro-step once and replay it fused (tinygrad_edu.compile)")

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


# GPTConfig's fields described (it lives in gpt/model.py, which has no field metadata); a field without a
# description still has its flag, with its default as its help
MODEL_DESCRIPTIONS = {
    "block_size": "the longest context the model sees (and the size of its causal mask)",
    "n_layer": "transformer blocks",
    "n_head": "attention heads per block",
    "n_embd": "the width of the embeddings and the residual stream",
    "dropout": "the dropout probability in training",
    "bias": "biases in the Linear layers and LayerNorms",
    "residual": "false: each sub-layer replaces x instead of adding to it",
    "layer_norm": "false: every LayerNorm becomes the identity",
    "position_embedding": "'learned' (a table), 'none', or 'rope' (rotary, on q and k)",
    "attention_scale": "divide the attention scores by sqrt(head_size)",
    "mlp": "'gelu' (an MLP), 'swiglu' (a gated MLP), or 'none' (no MLP sub-layer)",
    "single_head": "one head of size n_embd instead of n_head heads of size n_embd / n_head",
    "tie_weights": "the output projection reuses the token embedding matrix",
    "attention": "'explicit' (scores, mask, softmax, as the lecture; attention maps) or 'fused' (one "
    "scaled_dot_product_attention call: FlashAttention)",
}


def _check_types(config) -> None:
    """Each field of ``config`` holds the type of its hint (``_typed``); an int where a float is meant becomes one."""
    values = {spec.name: getattr(config, spec.name) for spec in dataclasses.fields(config)}
    for name, value in _typed(type(config), values).items():
        setattr(config, name, value)


def _typed(cls, values: Mapping) -> dict:
    """``values`` ({field of the dataclass cls: value}) checked against the fields' type hints: an int where
    ``int`` is written (a bool is not one), a number where ``float`` is (an int becomes a float), a bool or a
    string where those are, None where the hint allows it. A value of another type is a ConfigError."""
    kinds, typed = field_types(cls), {}
    for name, value in values.items():
        kind, optional = kinds[name]
        if value is None and optional:
            typed[name] = value
            continue
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if not ok:
            raise ConfigError(name, f"{name} must be {kind.__name__}, got {value!r} ({type(value).__name__})")
        typed[name] = float(value) if kind is float else value
    return typed


MODEL_FIELDS = {f.name: f for f in dataclasses.fields(GPTConfig)}
TRAIN_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


@dataclass
class RunConfig:
    """A run's settings: the model's (a ``GPTConfig``) and the training's (a ``TrainConfig``).

    The model's vocab_size is the dataset's: no flag or preset sets it. A RunConfig built from a preset holds
    GPTConfig's default there, a placeholder that training replaces once it has loaded the dataset
    (``with_vocab_size``); one read back from a checkpoint (``from_dict``) holds the run's own."""

    model: GPTConfig = field(default_factory=GPTConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def updated(self, values: Mapping) -> RunConfig:
        """A copy with ``values`` ({field: value}) set in whichever config has each field; both are checked."""
        unknown = sorted(k for k in values if k not in MODEL_FIELDS and k not in TRAIN_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown config field(s) {unknown}; model fields: {sorted(MODEL_FIELDS)}; "
                f"training fields: {sorted(TRAIN_FIELDS)}"
            )
        if "vocab_size" in values:
            raise ValueError("vocab_size comes from the dataset's vocabulary and cannot be overridden")
        model_values = _typed(GPTConfig, {k: v for k, v in values.items() if k in MODEL_FIELDS})
        try:  # GPTConfig checks their domains
            model = dataclasses.replace(self.model, **model_values)
        except ValueError as exc:
            named = re.match(r"GPTConfig[.:] ?(\w+)", str(exc))
            raise ConfigError(named.group(1) if named and named.group(1) in MODEL_FIELDS else None, str(exc)) from None
        train = dataclasses.replace(self.train, **{k: v for k, v in values.items() if k in TRAIN_FIELDS})
        return RunConfig(model, train)

    def with_vocab_size(self, vocab_size: int) -> RunConfig:
        """The run with the model's vocab_size set (to the dataset's)."""
        return dataclasses.replace(self, model=dataclasses.replace(self.model, vocab_size=vocab_size))

    def to_dict(self) -> dict:
        """The settings as a checkpoint's header stores them."""
        return {"model_config": self.model.to_dict(), "train_config": self.train.to_dict()}

    @classmethod
    def from_dict(cls, saved: Mapping) -> RunConfig:
        """The settings stored in a checkpoint's header (its other keys are ignored), or by ``to_dict``."""
        return cls(GPTConfig.from_dict(saved["model_config"]), TrainConfig(**saved["train_config"]))


def build_config(preset: str | None = None, overrides: Mapping | None = None) -> RunConfig:
    """A preset (or the defaults) with ``overrides`` applied, each field to the config that has it."""
    values: dict = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}: choose one of {sorted(PRESETS)}")
        values.update(PRESETS[preset])
    values.update(overrides or {})
    return RunConfig().updated(values)


def config_flags() -> list[FieldFlag]:
    """The flags of a run's settings (``gpt train``'s): one for every field of GPTConfig (vocab_size excepted:
    it comes from the dataset) and of TrainConfig, derived from the dataclasses, the presets' values in the help."""
    return [
        *field_flags(GPTConfig, skip=("vocab_size",), descriptions=MODEL_DESCRIPTIONS, note=_preset_values),
        *field_flags(TrainConfig, note=_preset_values),
    ]


def _preset_values(name: str) -> str:
    values = ", ".join(f"{preset} {fields[name]!r}" for preset, fields in sorted(PRESETS.items()) if name in fields)
    return f"(presets: {values})" if values else ""
