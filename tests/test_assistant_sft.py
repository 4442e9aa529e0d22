"""The assistant's fine-tuning and reply loop, on a tiny model: the loss is taken where the assistant speaks, a
few examples are learned to the letter, and a reply stops at the END marker within the context."""

from __future__ import annotations

import numpy as np
import pytest

from gpt.assistant import bot, chat, handbook, sft
from gpt.data import CharTokenizer

EXAMPLES = (
    handbook.Example("When is move in day?", "August 28.", "fact", "move_in"),
    handbook.Example("Where is the gym?", "Alder Gym.", "fact", "gym"),
)


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer(chat.vocabulary([sft.conversation(e) for e in EXAMPLES] + ["xyz"]))


def test_rows_take_the_loss_on_the_assistants_answer_and_end_only(tokenizer):
    inputs, targets = sft.encode_rows(tokenizer, EXAMPLES[:1], block_size=48)
    kept = tokenizer.decode(t for t in targets[0] if t >= 0)
    assert kept == "August 28.\x04"
    text = sft.conversation(EXAMPLES[0])
    assert tokenizer.decode(inputs[0][: len(text) - 1]) == text[:-1]
    _, everything = sft.encode_rows(tokenizer, EXAMPLES[:1], block_size=48, masked=False)
    assert tokenizer.decode(t for t in everything[0] if t >= 0) == text[1:]
    with pytest.raises(ValueError, match="does not fit"):
        sft.encode_rows(tokenizer, EXAMPLES[:1], block_size=10)


def test_fine_tuning_learns_two_answers_to_the_letter(tokenizer):
    model = sft.new_model(tokenizer, 48, seed=0, n_layer=1, n_head=2, n_embd=32, dropout=0.0)
    losses = sft.fine_tune(model, tokenizer, EXAMPLES, sft.SFTConfig(steps=150, batch_size=8, learning_rate=1e-2))
    assert np.mean(losses[-10:]) < 0.05 < losses[0]
    assert [sft.answer(model, tokenizer, e.question) for e in EXAMPLES] == [e.answer for e in EXAMPLES]
    assert sft.accuracy(model, tokenizer, EXAMPLES) == {"fact": 1.0}
    streamed = []
    prompt = bot.fitted_prompt([], EXAMPLES[1].question, tokenizer, 48 + bot.REPLY_ROOM)
    assert bot.reply(model, tokenizer, prompt, on_char=streamed.append) == "Alder Gym."
    assert "".join(streamed) == "Alder Gym."


def test_the_conversation_is_trimmed_to_the_context_oldest_turns_first(tokenizer):
    history = [("user", "Where is the gym?"), ("assistant", "Alder Gym."), ("user", "xyz"), ("assistant", "xyz")]
    wide = bot.fitted_prompt(history, "When is move in day?", tokenizer, 400)
    assert chat.parse(wide + chat.END)[:4] == history
    narrow = bot.fitted_prompt(history, "When is move in day?", tokenizer, 60)  # room for 30 of prompt
    assert narrow.endswith(chat.prompt([], "When is move in day?")) and "Alder" not in narrow
    assert bot.unknown_characters(tokenizer, "Wh€n?") == ["€"]
