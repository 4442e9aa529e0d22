# %% [markdown]
# # Inside a trained GPT
#
# Train a small GPT with the project's own recipe (`gpt train`'s loop, from Python), then look inside it: the
# loss curves, the model summary, every head's attention pattern, and the explorer, which walks the forward
# pass of a prompt panel by panel, embedded in the notebook.

# %%
# Colab, or a kernel without the engine: install it first. PACKAGE is what pip installs: the published
# package, or where it is not published a clone's path or its "git+URL" (in a clone: pip install -e ".[notebook]")
import importlib.util
import subprocess
import sys

PACKAGE = "tinygrad-edu[notebook]"
if importlib.util.find_spec("tinygrad_edu") is None:
    if subprocess.call([sys.executable, "-m", "pip", "install", "-q", PACKAGE]) != 0:
        raise SystemExit(f"pip could not install {PACKAGE!r}: set PACKAGE to a clone's path or git+URL, then rerun")

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Image, display

import tinygrad_edu as torch
from gpt import explore
from gpt.attention_maps import attention_weights, token_labels
from gpt.config import build_config
from gpt.data import prepare_shakespeare
from gpt.sample import generate_text
from gpt.summary import summary
from gpt.train import train

# %% [markdown]
# ## Train
#
# The `tiny` preset made a little larger: 2 layers, 4 heads, 64 wide, a context of 32 characters. The run's
# folder is a temporary one; tinyshakespeare comes from `$TINYSHAKESPEARE`, or is downloaded once. The progress
# bar is tqdm's notebook widget.

# %%
work = Path(tempfile.mkdtemp(prefix="inside-gpt-"))
prepare_shakespeare(data_dir=work / "data")
run = build_config(
    "tiny",
    {
        "n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 32, "batch_size": 16, "max_iters": 150,
        "eval_interval": 50, "eval_iters": 8, "warmup_iters": 20, "learning_rate": 3e-3,
        "data_dir": str(work / "data"), "out_dir": str(work / "run"),
    },
)  # fmt: skip
result = train(run)
model, tokenizer = result.model, result.tokenizer
print(f"val loss {result.val_loss:.3f} after {result.iterations} steps, {result.elapsed_s:.0f} s")

# %% [markdown]
# `gpt train` redrew `loss.png` in the run's folder after every evaluation: train and val loss, and the
# learning rate (warm-up, then cosine decay) on the right axis.

# %%
display(Image(filename=str(work / "run" / "loss.png")))

# %% [markdown]
# ## The model, module by module
#
# One forward pass with a hook on every module: its output shape and its own parameters.

# %%
x = torch.tensor([tokenizer.encode("ROMEO: ")], dtype=torch.long)
print(summary(model, x))

# %% [markdown]
# ## Attention patterns
#
# For a prompt, each head's weights after softmax: row = the character attending, column = the character
# attended to. The upper triangle is the future, which no character may see.

# %%
prompt = "ROMEO:\nWhat light"
layers = attention_weights(model, tokenizer, prompt)
labels = token_labels(tokenizer, tokenizer.encode(prompt))
fig, axes = plt.subplots(len(layers), layers[0].shape[0], figsize=(14, 7))
for layer, weights in enumerate(layers):
    for head, ax in enumerate(axes[layer]):
        ax.imshow(weights[head], cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"layer {layer}, head {head}", fontsize=9)
        ax.set_xticks(range(len(labels)), labels, fontsize=6)
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The explorer, inline
#
# `gpt explore`'s page, shown in the notebook (`explore.show`): embeddings, each block's LayerNorms, q/k/v,
# the attention of every head (hover a cell), the residual stream, the logits and the likeliest next
# characters; "next" steps to the longer prompt.

# %%
explore.show(model, tokenizer, "ROMEO:", steps=4, height=700)

# %% [markdown]
# ## A sample

# %%
print("sample:\n" + generate_text(model, tokenizer, "ROMEO:", 300, temperature=0.8, top_k=50, seed=1))
