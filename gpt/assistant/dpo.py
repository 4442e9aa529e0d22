"""Preference tuning by DPO (Rafailov et al. 2023, "Direct Preference Optimization"), as TRL's ``DPOTrainer``
computes and logs it.

A pair is a question with a chosen answer (grounded, or the right decline) and a rejected one (an invented fact,
a leaked record, an obeyed injection). The policy starts as the fine-tuned model; a frozen copy of it is the
reference. With ``log π(y|x)`` the summed log-probability of an answer's tokens (its text and END) after the
prompt, the implicit reward of an answer is ``β (log π(y|x) - log π_ref(y|x))``, and the loss is

    loss = -log σ(reward(chosen) - reward(rejected))

averaged over the batch: it raises the chosen answer's probability relative to the reference and lowers the
rejected one's, and β says how far from the reference the policy may go (small β: far). No reward model, no
sampling: the loss is a classification of which answer is preferred.

The metrics are TRL's names: ``rewards/chosen`` and ``rewards/rejected`` (mean rewards), ``rewards/accuracies``
(the share of pairs whose chosen reward is the higher), ``rewards/margins`` (mean chosen - rejected),
``logps/chosen`` and ``logps/rejected`` (mean summed log-probabilities under the policy).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import numpy as np

import tinygrad_edu as torch
from gpt.data import CharTokenizer
from gpt.model import GPT, eval_mode
from tinygrad_edu.nn import functional as F

from . import sft
from .handbook import Example, PreferencePair


def sequence_logps(model: GPT, inputs, targets):
    """The summed log-probability of each row's targets (positions with target -1 left out), shape (B,).
    d(sum)/d(logits) = one-hot(target) - softmax(logits), at the kept positions."""
    logits, _ = model(inputs)
    logp = F.log_softmax(logits, dim=-1)
    kept = targets >= 0
    picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * kept.to(picked.dtype)).sum(-1)


def log_sigmoid(z):
    """log σ(z), computed as log_softmax over (z, 0): stable for large |z|. d/dz = 1 - σ(z) = σ(-z)."""
    return F.log_softmax(torch.stack([z, torch.zeros_like(z)], dim=-1), dim=-1)[..., 0]


def dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta: float):
    """The DPO loss of a batch of pairs from their summed log-probabilities (each shape (B,)), and TRL's metrics.
    d(loss)/d(policy_chosen) = -β σ(-margin) / B, where margin = reward(chosen) - reward(rejected)."""
    chosen_rewards = beta * (policy_chosen - reference_chosen)
    rejected_rewards = beta * (policy_rejected - reference_rejected)
    margins = chosen_rewards - rejected_rewards
    loss = -log_sigmoid(margins).mean()
    metrics = {
        "loss": loss.item(),
        "rewards/chosen": chosen_rewards.mean().item(),
        "rewards/rejected": rejected_rewards.mean().item(),
        "rewards/accuracies": (chosen_rewards > rejected_rewards).to(margins.dtype).mean().item(),
        "rewards/margins": margins.mean().item(),
        "logps/chosen": policy_chosen.mean().item(),
        "logps/rejected": policy_rejected.mean().item(),
    }
    return loss, metrics


def pair_rows(tokenizer: CharTokenizer, pairs: Sequence[PreferencePair], block_size: int):
    """(chosen inputs, chosen targets, rejected inputs, rejected targets): each pair as two conversations, the
    targets kept on the assistant's tokens only (``sft.encode_rows``)."""
    chosen = sft.encode_rows(tokenizer, [Example(p.question, p.chosen, p.kind) for p in pairs], block_size)
    rejected = sft.encode_rows(tokenizer, [Example(p.question, p.rejected, p.kind) for p in pairs], block_size)
    return (*chosen, *rejected)


@dataclasses.dataclass
class DPOConfig:
    steps: int = 150
    batch_size: int = 16
    learning_rate: float = 5e-5
    beta: float = 0.1
    seed: int = 0


def frozen_copy(model: GPT) -> GPT:
    """The reference model: the same weights in a new model that takes no gradient."""
    reference = GPT(model.config).to(model.lm_head.weight.device, model.lm_head.weight.dtype)
    reference.load_state_dict(model.state_dict())
    for p in reference.parameters():
        p.requires_grad_(False)
    return reference.eval()


def train(model: GPT, tokenizer: CharTokenizer, pairs: Sequence[PreferencePair], cfg: DPOConfig, log=None):
    """DPO from the model as it is (it is also the reference); returns a list of TRL-style metric dicts, one
    per step. Dropout is off in both models, so the two agree exactly at the start (every reward is 0)."""
    reference = frozen_copy(model)
    rows = pair_rows(tokenizer, pairs, model.config.block_size)
    rng = random.Random(cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
    history = []
    with eval_mode(model):  # DPO compares log-probabilities of two models: no dropout noise in either
        for step in range(cfg.steps):
            picked = np.array([rng.randrange(len(pairs)) for _ in range(cfg.batch_size)])
            ci, ct, ri, rt = (torch.tensor(a[picked]) for a in rows)
            with torch.no_grad():
                ref_chosen, ref_rejected = sequence_logps(reference, ci, ct), sequence_logps(reference, ri, rt)
            loss, metrics = dpo_loss(
                sequence_logps(model, ci, ct), sequence_logps(model, ri, rt), ref_chosen, ref_rejected, cfg.beta
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            history.append({"step": step, **metrics})
            if log is not None and (step % 25 == 0 or step == cfg.steps - 1):
                log(f"  dpo step {step:>4}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    return history
