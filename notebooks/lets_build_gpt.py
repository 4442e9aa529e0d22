# %% [markdown]
# # Let's build GPT, on tinygrad_edu
#
# The path of Andrej Karpathy's lecture "Let's build GPT: from scratch, in code, spelled out", cell by cell,
# with this engine in PyTorch's place: the data, a bigram model, averaging the past with a matrix product,
# self-attention, several heads, blocks with residual connections, LayerNorm and dropout. Shrunk to run in a
# couple of minutes on a laptop CPU; it ends with a Shakespeare sample. At the end, the same cells run again on
# PyTorch, and the losses come out the same, to float32 rounding: the engine draws PyTorch's random numbers,
# bit for bit.

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
import importlib
import json
import os

# the library these cells run on: tinygrad_edu; the last section runs them again with "torch"
LIBRARY = os.environ.get("NOTEBOOK_LIBRARY", "tinygrad_edu")
torch = importlib.import_module(LIBRARY)
nn = torch.nn
F = torch.nn.functional
print("running on", LIBRARY)

# %% [markdown]
# ## The data
#
# tinyshakespeare: 1 MB of Shakespeare's plays. A character-level tokenizer: every character is a token.

# %%
import urllib.request

URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
path = os.environ.get("TINYSHAKESPEARE", "input.txt")
if not os.path.exists(path):
    urllib.request.urlretrieve(URL, path)
with open(path, encoding="utf-8") as f:
    text = f.read()
chars = sorted(set(text))
vocab_size = len(chars)
stoi = {ch: i for i, ch in enumerate(chars)}
itos = {i: ch for i, ch in enumerate(chars)}


def encode(s):
    return [stoi[c] for c in s]


def decode(ids):
    return "".join(itos[i] for i in ids)


print(f"{len(text):,} characters, vocabulary of {vocab_size}: {''.join(chars)!r}")
print(encode("hii there"), decode(encode("hii there")))

# %%
data = torch.tensor(encode(text), dtype=torch.long)
n = int(0.9 * len(data))
train_data, val_data = data[:n], data[n:]
print(data.shape, data.dtype)
print(data[:20])

# %% [markdown]
# Batches of chunks: for a chunk of `block_size + 1` tokens, each position's target is the next token.

# %%
torch.manual_seed(1337)
batch_size = 16
block_size = 32


def get_batch(split):
    source = train_data if split == "train" else val_data
    ix = torch.randint(len(source) - block_size, (batch_size,))
    x = torch.stack([source[i : i + block_size] for i in ix])
    y = torch.stack([source[i + 1 : i + block_size + 1] for i in ix])
    return x, y


xb, yb = get_batch("train")
print("inputs", xb.shape, "targets", yb.shape)
print("when the input is", xb[0, :3].tolist(), "the target is", yb[0, 2].item())

# %% [markdown]
# ## The bigram model
#
# Each token looks up the logits of the next one in a table: no context at all.

# %%
eval_iters = 20


def estimate_loss(model):
    out = {}
    model.eval()
    with torch.no_grad():
        for split in ("train", "val"):
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                X, Y = get_batch(split)
                _, loss = model(X, Y)
                losses[k] = loss.item()
            out[split] = losses.mean().item()
    model.train()
    return out


class BigramLanguageModel(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.token_embedding_table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx, targets=None):
        logits = self.token_embedding_table(idx)  # (B, T, C)
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        loss = F.cross_entropy(logits.view(B * T, C), targets.view(B * T))
        return logits, loss

    def generate(self, idx, max_new_tokens):
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -block_size:])
            probs = F.softmax(logits[:, -1, :], dim=-1)
            idx = torch.cat((idx, torch.multinomial(probs, num_samples=1)), dim=1)
        return idx


def train(model, steps, lr, eval_interval):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    history = []
    for step in range(steps + 1):
        if step % eval_interval == 0:
            losses = estimate_loss(model)
            history.append([step, round(losses["train"], 4), round(losses["val"], 4)])
            print(f"step {step}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
        if step == steps:
            return history
        xb, yb = get_batch("train")
        _, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


bigram = BigramLanguageModel(vocab_size)
bigram_history = train(bigram, steps=300, lr=1e-2, eval_interval=100)
print(decode(bigram.generate(torch.zeros((1, 1), dtype=torch.long), 100)[0].tolist()))

# %% [markdown]
# ## The mathematical trick: averaging the past with a matrix product
#
# A token should see only the tokens before it. Averaging them is a product with a lower-triangular matrix of
# weights; with `softmax` over `-inf` above the diagonal, the weights can be learned: that is attention.

# %%
T = 4
tril = torch.tril(torch.ones(T, T))
wei = torch.zeros((T, T)).masked_fill(tril == 0, float("-inf"))
wei = F.softmax(wei, dim=-1)
x = torch.arange(T * 2, dtype=torch.float32).view(T, 2)
print(wei)
print(wei @ x)

# %% [markdown]
# ## Self-attention, heads, blocks
#
# Each token emits a query and a key; their dot products, scaled by 1/√head_size and masked to the past, are
# the weights of the average of the values. Several heads run side by side; a block is attention then a
# feed-forward layer, each with a residual connection and a LayerNorm before it; dropout regularizes.

# %%
n_embd, n_head, n_layer, dropout = 32, 4, 2, 0.1


class Head(nn.Module):
    def __init__(self, head_size):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        k, q = self.key(x), self.query(x)
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5  # (B, T, T)
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        wei = self.dropout(F.softmax(wei, dim=-1))
        return wei @ self.value(x)


class MultiHeadAttention(nn.Module):
    def __init__(self, num_heads, head_size):
        super().__init__()
        self.heads = nn.ModuleList([Head(head_size) for _ in range(num_heads)])
        self.proj = nn.Linear(head_size * num_heads, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        out = torch.cat([h(x) for h in self.heads], dim=-1)
        return self.dropout(self.proj(out))


class FeedForward(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd), nn.ReLU(), nn.Linear(4 * n_embd, n_embd), nn.Dropout(dropout)
        )

    def forward(self, x):
        return self.net(x)


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.sa = MultiHeadAttention(n_head, n_embd // n_head)
        self.ffwd = FeedForward(n_embd)
        self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)

    def forward(self, x):
        x = x + self.sa(self.ln1(x))  # residual connections around both halves
        return x + self.ffwd(self.ln2(x))


class GPTLanguageModel(BigramLanguageModel):
    def __init__(self):
        nn.Module.__init__(self)
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        self.blocks = nn.Sequential(*[Block(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        x = self.token_embedding_table(idx) + self.position_embedding_table(torch.arange(T))
        logits = self.lm_head(self.ln_f(self.blocks(x)))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))
        return logits, loss


model = GPTLanguageModel()
print(f"{sum(p.numel() for p in model.parameters()) / 1e3:.1f}K parameters")

# %% [markdown]
# ## Training the GPT

# %%
gpt_history = train(model, steps=300, lr=3e-3, eval_interval=100)
print("LOSSES " + json.dumps({"bigram": bigram_history, "gpt": gpt_history}))

# %% [markdown]
# ## A sample
#
# A few minutes of training on a CPU: not Shakespeare yet, but words, names and line breaks in their places.

# %%
model.eval()
with torch.no_grad():
    sample = decode(model.generate(torch.zeros((1, 1), dtype=torch.long), 300)[0].tolist())
print("sample:\n" + sample)

# %% [markdown]
# ## The same cells on PyTorch
#
# The cell below runs every cell of this notebook again in a fresh kernel, with `LIBRARY = "torch"`, and
# compares the losses. They agree because both libraries draw the same random numbers from the same seed (the
# initial weights, the batches, the dropout masks); what is left is float32 rounding in a different order.

# %%
notebook_file = "lets_build_gpt.ipynb"
if LIBRARY != "tinygrad_edu" or importlib.util.find_spec("torch") is None:
    print("PyTorch is not installed (or this is already the PyTorch run): nothing to compare")
elif not os.path.exists(notebook_file) or importlib.util.find_spec("nbclient") is None:
    print(f"to compare, run this notebook from its folder (it reads {notebook_file}) with nbclient installed")
else:
    import nbclient
    import nbformat

    rerun = nbformat.read(notebook_file, as_version=4)
    saved = dict(os.environ)
    # the new kernel inherits these: PyTorch on one thread, as a model this small gains nothing from more
    os.environ.update(NOTEBOOK_LIBRARY="torch", OMP_NUM_THREADS="1")
    try:
        nbclient.NotebookClient(rerun, timeout=300, kernel_name="python3").execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    printed = "".join(o.get("text", "") for cell in rerun.cells for o in cell.get("outputs", []))
    theirs = json.loads(printed.split("LOSSES ")[1].splitlines()[0])
    ours = {"bigram": bigram_history, "gpt": gpt_history}
    print(f"{'model':8} {'step':>5} {'train (ours)':>13} {'train (torch)':>14} {'val (ours)':>11} {'val (torch)':>12}")
    worst = 0.0
    for name in ours:
        for (step, train_a, val_a), (_, train_b, val_b) in zip(ours[name], theirs[name]):
            print(f"{name:8} {step:5d} {train_a:13.4f} {train_b:14.4f} {val_a:11.4f} {val_b:12.4f}")
            worst = max(worst, abs(train_a - train_b), abs(val_a - val_b))
    print(f"largest difference: {worst:.4f}")
    assert worst <= 5e-3, "the two libraries' losses differ"
    print("the same losses on both libraries (to float32 rounding)")
