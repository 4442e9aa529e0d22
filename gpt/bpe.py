"""A byte-level BPE tokenizer, in the design of Karpathy's minbpe (and of GPT-2/GPT-4's tokenizers).

The idea in four lines:

1. Text is UTF-8 bytes, so 256 base tokens can spell *any* string: there is no "unknown character".
2. Training repeatedly finds the most frequent adjacent pair of tokens and gives it a new id (256, 257, ...);
   the list of these merges, in the order they were learned (their *rank*), is the whole tokenizer.
3. Encoding replays the merges on new text: always the lowest-rank pair first, exactly as training did.
4. Decoding concatenates each token's bytes and decodes the UTF-8.

Optionally the text is first cut into chunks by a regex (GPT-2's or GPT-4's pre-split pattern: words, numbers,
punctuation runs, spaces), and merges never cross a chunk boundary, so " the" can become a token but "e." can
not. This also makes training fast: a corpus has far fewer *distinct* chunks than characters, so we train on
the distinct chunks, each weighted by how often it occurs. The named patterns use ``\\p{L}`` (any letter) and
``\\p{N}`` (any number), which need the ``regex`` package (``pip install regex``); the standard ``re`` module
has no Unicode property classes. ``pattern=None`` needs nothing extra: the text is one long sequence.

Special tokens (e.g. ``<|endoftext|>``) get ids after the merges; they are never produced by merges and are
recognised in text only when ``encode`` is told to (``allowed_special``).

Usage::

    tok = BPETokenizer().train(text, vocab_size=512, pattern="gpt2", special_tokens=["<|endoftext|>"])
    ids = tok.encode("To be, or not to be")
    assert tok.decode(ids) == "To be, or not to be"
    tok.save("vocab.json"); tok = BPETokenizer.load("vocab.json")

``python -m gpt.bpe --input FILE`` trains at a few vocabulary sizes and prints tokens per character.
"""

from __future__ import annotations

import codecs
import heapq
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from . import files
from .data import DATASET_KINDS, MAX_VOCAB_SIZE, DatasetError, _is_int, _json_kind, _short, read_json

# GPT-2's pre-split (openai/gpt-2 encoder.py): contractions, optional space + letters, optional space + numbers,
# optional space + other symbols, whitespace not followed by a non-space (so " word" keeps its space), whitespace
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# GPT-4's (tiktoken cl100k_base): case-insensitive contractions, numbers in groups of at most 3 digits, newlines
# kept apart from other whitespace
GPT4_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
)
PATTERNS = {"gpt2": GPT2_PATTERN, "gpt4": GPT4_PATTERN}
REGEX_HINT = 'pip install regex (or pip install -e ".[bpe]")'
_CACHE_LIMIT = 1 << 16  # chunks whose encoding we remember (words repeat a lot in real text)
# what the tokens of a loaded vocabulary may spell in all: trained ones spell a few MB at most, while 60 merges of
# a token with itself would spell 2**60 bytes (vocab.json is read from disk, so anything may be in it)
MAX_TOKEN_BYTES = 1 << 26


def _compile(pattern: str | None):
    """The pre-split regex for a pattern name or a raw pattern; None means no pre-split."""
    if pattern is None:
        return None
    source = PATTERNS.get(pattern, pattern)
    try:
        import regex
    except ImportError:
        if pattern in PATTERNS:
            raise ImportError(
                f"the {pattern!r} pre-split pattern uses \\p{{L}} and \\p{{N}} (Unicode letters and numbers), "
                f"which Python's re module does not support: {REGEX_HINT}, or use pattern=None"
            ) from None
        return re.compile(source)  # a custom pattern: the standard module may well be enough
    return regex.compile(source)


def _split(rx, text: str) -> list[str]:
    """Cut ``text`` into chunks with ``rx``. Text the pattern does not match becomes a chunk of its own, so the
    chunks always join back to ``text`` (a custom pattern must not be able to lose characters)."""
    if rx is None:
        return [text] if text else []
    chunks, pos = [], 0
    for m in rx.finditer(text):
        if m.start() > pos:
            chunks.append(text[pos : m.start()])
        if m.end() > m.start():
            chunks.append(m.group())
        pos = max(pos, m.end())
    if pos < len(text):
        chunks.append(text[pos:])
    return chunks


def _to_bytes(text: str) -> bytes:
    # "surrogatepass": a lone surrogate (legal in a Python str, though not in UTF-8) survives the round trip
    return text.encode("utf-8", "surrogatepass")


def _surrogatepass_or_replace(error: UnicodeDecodeError) -> tuple[str, int]:
    """A decoding error handler: a lone surrogate (which encode lets through) is decoded; anything else that is
    not UTF-8, such as a character cut in half by the ids, becomes U+FFFD, as minbpe does."""
    try:
        return _SURROGATEPASS(error)
    except UnicodeDecodeError:
        return codecs.replace_errors(error)


_SURROGATEPASS = codecs.lookup_error("surrogatepass")
codecs.register_error("gpt.bpe.surrogatepass_or_replace", _surrogatepass_or_replace)


def decode_utf8(data: bytes) -> str:
    """Bytes -> text, as ``decode`` does it. Each error is handled where it is, so the text of a byte string is
    the text of its parts: decoding a stream piece by piece (see incomplete_utf8_tail) gives what decoding it
    whole gives."""
    return data.decode("utf-8", "gpt.bpe.surrogatepass_or_replace")


def incomplete_utf8_tail(data: bytes) -> int:
    """How many bytes at the end of ``data`` begin a character that is not complete yet (0 to 3).

    Its first byte is the last one that is not a continuation byte (0b10xxxxxx); the high bits of that byte say
    how long the character is (0b110: 2 bytes, 0b1110: 3, 0b11110: 4). Cutting before it is safe: a UTF-8
    decoder starts afresh at every byte that is not a continuation byte, so the two sides decoded apart give
    the text that they give decoded together."""
    for back in range(1, min(3, len(data)) + 1):
        byte = data[-back]
        if byte & 0b1100_0000 != 0b1000_0000:
            length = 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4 if byte >> 3 == 0b11110 else 1
            return back if back < length else 0
    return 0


class BPETokenizer:
    """Byte-level BPE: 256 byte tokens, then one token per merge (id 256 + rank), then the special tokens.

    ``merges`` is the list of learned pairs in rank order; ``pattern`` is None, "gpt2", "gpt4" or a raw regex;
    ``special_tokens`` maps strings to ids, which must follow the merges without gaps.
    """

    def __init__(self, merges: Iterable = (), *, pattern: str | None = None, special_tokens: dict | None = None):
        self.merges: list[tuple[int, int]] = []
        self.ranks: dict[tuple[int, int], int] = {}
        self.vocab: list[bytes] = [bytes([b]) for b in range(256)]
        for a, b in merges:
            self._add_merge(int(a), int(b))
        self.pattern = pattern
        self._rx = _compile(pattern)
        self.special_tokens: dict[str, int] = {}
        for text, token_id in (special_tokens or {}).items():
            expected = len(self.vocab) + len(self.special_tokens)
            if not isinstance(text, str) or not text:
                raise ValueError(f"special tokens must be non-empty strings, got {text!r}")
            if token_id != expected:
                raise ValueError(f"special token {text!r} has id {token_id}; the next free id is {expected}")
            self.special_tokens[text] = token_id
        self._special_rx = None
        self._cache: dict[str, list[int]] = {}

    def _add_merge(self, a: int, b: int) -> None:
        new = len(self.vocab)
        if not (0 <= a < new and 0 <= b < new):
            # a merge may only join tokens that exist before it; encode relies on this (see _merge_chunk)
            raise ValueError(f"merge {len(self.merges)} ({a}, {b}) uses a token that does not exist yet (< {new})")
        if (a, b) in self.ranks:
            raise ValueError(f"the pair ({a}, {b}) is merged twice")
        self.ranks[(a, b)] = len(self.merges)
        self.merges.append((a, b))
        self.vocab.append(self.vocab[a] + self.vocab[b])

    # -- training ------------------------------------------------------------------------------------------
    def train(self, text: str, vocab_size: int, *, pattern: str | None = "gpt2", special_tokens=None, verbose=False):
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``; returns ``self``.

        Deterministic: the most frequent pair wins and ties go to the smallest pair (compared as id tuples).
        Fewer merges are learned if the text runs out of pairs. Special-token strings in ``text`` are cut out
        before training, so no merge crosses them.
        """
        special_tokens = list(special_tokens or [])
        num_merges = vocab_size - 256 - len(special_tokens)
        if num_merges < 0:
            raise ValueError(
                f"vocab_size must be at least 256 + {len(special_tokens)} special tokens, got {vocab_size}"
            )
        fresh = BPETokenizer(pattern=pattern)
        pieces = [text]
        if special_tokens:
            pieces = re.split("|".join(re.escape(s) for s in sorted(special_tokens, key=len, reverse=True)), text)
        chunk_counts = Counter(_to_bytes(c) for piece in pieces for c in _split(fresh._rx, piece))
        start = time.perf_counter()
        for a, b in _learn_merges(chunk_counts, num_merges):
            fresh._add_merge(a, b)
        if verbose:
            print(
                f"bpe: {len(fresh.merges)} merges from {len(chunk_counts):,} distinct chunks "
                f"in {time.perf_counter() - start:.1f}s"
            )
        first_special = len(fresh.vocab)
        specials = {s: first_special + i for i, s in enumerate(special_tokens)}
        self.__init__(fresh.merges, pattern=pattern, special_tokens=specials)
        return self

    @classmethod
    def trained(cls, text: str, vocab_size: int, **kwargs) -> BPETokenizer:
        """``BPETokenizer().train(text, vocab_size, **kwargs)``."""
        return cls().train(text, vocab_size, **kwargs)

    # -- encoding ------------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + len(self.special_tokens)

    def encode(self, text: str, allowed_special="none_raise") -> list[int]:
        """Text -> token ids.

        ``allowed_special``: "none_raise" (default) raises if the text contains a special token's string,
        "all" encodes every special-token string as its id, "none" treats them as ordinary text, and a set of
        strings allows just those (as tiktoken does).
        """
        if allowed_special == "all":
            specials = self.special_tokens
        elif allowed_special in ("none", "none_raise"):
            specials = {}
            if allowed_special == "none_raise":
                found = [s for s in self.special_tokens if s in text]
                if found:
                    raise ValueError(
                        f"the text contains the special token {found[0]!r}; pass allowed_special='all' to encode "
                        "it as its id, or 'none' to encode it as ordinary text"
                    )
        else:
            unknown = set(allowed_special) - set(self.special_tokens)
            if unknown:
                raise ValueError(f"allowed_special names unknown special tokens: {sorted(unknown)}")
            specials = {s: self.special_tokens[s] for s in allowed_special}
        if not specials:
            return self._encode_ordinary(text)
        rx = re.compile("(" + "|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True)) + ")")
        ids = []
        for i, part in enumerate(rx.split(text)):  # odd parts are the separators, i.e. the special tokens
            ids.extend([specials[part]] if i % 2 else self._encode_ordinary(part))
        return ids

    def encode_array(self, text: str) -> np.ndarray:
        """``encode`` as a uint16 array (the on-disk format of gpt's datasets)."""
        if self.vocab_size > 2**16:
            raise ValueError(f"a vocabulary of {self.vocab_size} tokens does not fit uint16 ids")
        return np.asarray(self._encode_ordinary(text), dtype=np.uint16)

    def _encode_ordinary(self, text: str) -> list[int]:
        ids = []
        cache = self._cache
        for chunk in _split(self._rx, text):
            cached = cache.get(chunk)
            if cached is None:
                cached = self._merge_chunk(_to_bytes(chunk))
                if self._rx is not None:  # with no pre-split the "chunk" is the whole text: not worth keeping
                    if len(cache) >= _CACHE_LIMIT:
                        cache.clear()
                    cache[chunk] = cached
            ids.extend(cached)
        return ids

    def _merge_chunk(self, data: bytes) -> list[int]:
        """Apply the merges to one chunk's bytes, lowest rank first, each rank left to right.

        That is minbpe's loop ("find the lowest-rank pair present, merge all its occurrences, repeat"), done with
        a heap of (rank, position) over a linked list so a long text costs O(n log n), not O(n * merges). It is
        the same order because a merge only joins tokens that existed before it: every pair a merge creates has a
        higher rank than the merge itself, so all pairs of rank r are merged before any pair of rank > r.
        """
        tok = list(data)
        n = len(tok)
        if n < 2 or not self.ranks:
            return tok
        ranks = self.ranks
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        prv = list(range(-1, n - 1))
        heap = []
        for p in range(n - 1):
            r = ranks.get((tok[p], tok[p + 1]))
            if r is not None:
                heap.append((r, p))
        heapq.heapify(heap)
        while heap:
            r, p = heapq.heappop(heap)
            q = nxt[p]
            if tok[p] < 0 or q < 0 or ranks.get((tok[p], tok[q])) != r:
                continue  # stale: one side was merged away since this entry was pushed
            new = 256 + r
            after = nxt[q]
            tok[p], tok[q], nxt[p] = new, -1, after
            if after >= 0:
                prv[after] = p
                r2 = ranks.get((new, tok[after]))
                if r2 is not None:
                    heapq.heappush(heap, (r2, p))
            before = prv[p]
            if before >= 0:
                r2 = ranks.get((tok[before], new))
                if r2 is not None:
                    heapq.heappush(heap, (r2, before))
        out, p = [], 0
        while p >= 0:
            out.append(tok[p])
            p = nxt[p]
        return out

    # -- decoding ------------------------------------------------------------------------------------------
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        if isinstance(ids, np.ndarray):
            ids = ids.tolist()
        specials = {i: _to_bytes(s) for s, i in self.special_tokens.items()}
        parts = []
        n = len(self.vocab)
        for token_id in ids:
            token_id = int(token_id)
            if 0 <= token_id < n:
                parts.append(self.vocab[token_id])
            elif token_id in specials:
                parts.append(specials[token_id])
            else:
                raise ValueError(f"token id {token_id} is out of range (vocabulary of {self.vocab_size} tokens)")
        return b"".join(parts)

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids -> text. Ids that cut a multi-byte character in half decode to U+FFFD."""
        return decode_utf8(self.decode_bytes(ids))

    def token_str(self, token_id: int) -> str:
        """A token as readable text (bytes that are not valid UTF-8 on their own are shown as \\xNN)."""
        for s, i in self.special_tokens.items():
            if i == token_id:
                return s
        return self.vocab[token_id].decode("utf-8", "backslashreplace")

    # -- saving --------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-ready dict. ``merges`` (in rank order), ``pattern`` and ``special_tokens`` define the tokenizer;
        ``tokens`` lists what each merged token spells, for people to read (ignored when loading)."""
        return {
            "type": "bpe",
            "version": 1,
            "pattern": self.pattern,
            "merges": [list(m) for m in self.merges],
            "special_tokens": dict(self.special_tokens),
            "tokens": {str(256 + r): self.token_str(256 + r) for r in range(len(self.merges))},
        }

    def to_json(self) -> str:
        """vocab.json's text."""
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, obj: dict, where: str = "tokenizer") -> BPETokenizer:
        """The tokenizer ``to_dict`` describes. Any other value raises ``gpt.data.DatasetError`` naming ``where``
        and what is wrong: the dict comes from a file, which may hold anything."""
        if not isinstance(obj, dict) or obj.get("type") != "bpe" or not isinstance(obj.get("merges"), list):
            raise DatasetError(
                f'{where} is not a BPE tokenizer: expected {{"type": "bpe", "merges": [...], ...}}, got {_short(obj)}'
            )
        version = obj.get("version", 1)
        if not (_is_int(version) and version == 1):
            raise DatasetError(f"{where}: version {_short(version)}, this code reads version 1")
        merges, pattern, special = obj["merges"], obj.get("pattern"), obj.get("special_tokens", {})
        special = {} if special is None else special
        if not isinstance(special, dict):
            raise DatasetError(f"{where}: 'special_tokens' is {_json_kind(special)}, expected an object")
        if 256 + len(merges) + len(special) > MAX_VOCAB_SIZE:
            raise DatasetError(
                f"{where} has {256 + len(merges) + len(special):,} tokens, but token ids are stored as uint16, "
                f"which holds at most {MAX_VOCAB_SIZE:,}"
            )
        lengths, total = [1] * 256, 256  # what each token spells, in bytes, to refuse a vocabulary too big to hold
        for rank, merge in enumerate(merges):
            if not (isinstance(merge, list) and len(merge) == 2 and all(_is_int(i) for i in merge)):
                raise DatasetError(f"{where}: merge {rank} is {_short(merge)}, expected a pair of token ids [a, b]")
            a, b = merge
            if not (0 <= a < len(lengths) and 0 <= b < len(lengths)):
                raise DatasetError(
                    f"{where}: merge {rank} ({a}, {b}) uses a token that does not exist yet (ids < {len(lengths)})"
                )
            lengths.append(lengths[a] + lengths[b])
            total += lengths[-1]
            if total > MAX_TOKEN_BYTES:
                raise DatasetError(f"{where}: its tokens spell more than {MAX_TOKEN_BYTES:,} bytes in all")
        for text, token_id in special.items():
            if not _is_int(token_id):
                raise DatasetError(f"{where}: special token {_short(text)} has the id {_short(token_id)}")
        if pattern is not None and not isinstance(pattern, str):
            raise DatasetError(f"{where}: 'pattern' is {_json_kind(pattern)}, expected null or a string")
        try:
            _compile(pattern)
        except Exception as e:  # re.error, regex.error, ImportError (no regex package), an overflow...
            raise DatasetError(f"{where}: its pre-split pattern {_short(pattern)} cannot be used ({e})") from None
        try:
            return cls([tuple(m) for m in merges], pattern=pattern, special_tokens=special)
        except ValueError as e:  # a pair merged twice, special-token ids out of order
            raise DatasetError(f"{where}: {e}") from None

    def save(self, path: str | os.PathLike) -> None:
        # "a file": a vocabulary saved under a name of the user's choosing is one (a checkpoint there is not)
        files.write_text(path, self.to_json(), replaces=(*DATASET_KINDS, "a file"), what="the vocabulary")

    @classmethod
    def load(cls, path: str | os.PathLike) -> BPETokenizer:
        return cls.from_dict(read_json(path), str(path))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BPETokenizer):
            return NotImplemented
        return (self.merges, self.pattern, self.special_tokens) == (other.merges, other.pattern, other.special_tokens)

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, pattern={self.pattern!r})"


def _learn_merges(chunk_counts: dict, num_merges: int) -> list[tuple[int, int]]:
    """The BPE training loop over distinct chunks (bytes -> how often it occurs), with incremental pair counts.

    Every byte of every distinct chunk is a node of a doubly linked list (chunks are not linked to each other)
    with the weight of its chunk. We keep, for every adjacent pair, its weighted count and the set of positions
    where it starts. A merge then touches only the occurrences of the winning pair and their two neighbours,
    instead of recounting the whole corpus: the pairs (left, a) and (b, right) lose an occurrence, and
    (left, new) and (new, right) gain one. A heap of (-count, pair) finds the winner; entries whose count has
    changed since they were pushed are skipped when popped ("lazy deletion").
    """
    tok, weight, nxt, prv = [], [], [], []
    for chunk, count in chunk_counts.items():
        start, n = len(tok), len(chunk)
        tok.extend(chunk)
        weight.extend([count] * n)
        prv.extend(range(start - 1, start + n - 1))
        nxt.extend(range(start + 1, start + n + 1))
        prv[start], nxt[-1] = -1, -1
    counts: dict = {}
    where: dict = {}
    for p in range(len(tok)):
        q = nxt[p]
        if q >= 0:
            pair = (tok[p], tok[q])
            counts[pair] = counts.get(pair, 0) + weight[p]
            where.setdefault(pair, set()).add(p)
    heap = [(-c, pair) for pair, c in counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[int, int]] = []
    while len(merges) < num_merges and heap:
        neg, pair = heapq.heappop(heap)
        if counts.get(pair, 0) != -neg or neg == 0:
            continue  # stale entry
        new = 256 + len(merges)
        merges.append(pair)
        a, b = pair
        del counts[pair]
        touched = set()

        def change(key, pos, delta, pair=pair, touched=touched):  # defaults bind this merge's pair and set
            if key == pair:  # the pair being merged: its occurrences are handled by the loop below
                return
            counts[key] = counts.get(key, 0) + delta
            if delta > 0:
                where.setdefault(key, set()).add(pos)
            else:
                where[key].discard(pos)
            touched.add(key)

        for p in sorted(where.pop(pair)):  # left to right, so overlapping runs like "aaa" merge as in encode
            q = nxt[p]
            if tok[p] != a or q < 0 or tok[q] != b:
                continue  # this occurrence was consumed by the previous one (a == b)
            w, before, after = weight[p], prv[p], nxt[q]
            if before >= 0:
                change((tok[before], a), before, -w)
                change((tok[before], new), before, w)
            if after >= 0:
                change((b, tok[after]), q, -w)
                change((new, tok[after]), p, w)
                prv[after] = p
            tok[p], tok[q], nxt[p] = new, -1, after
        for key in touched:
            c = counts[key]
            if c > 0:
                heapq.heappush(heap, (-c, key))
            else:
                del counts[key]
                where.pop(key, None)
    return merges


def main(argv: list[str] | None = None) -> int:
    """Train at several vocabulary sizes and print tokens per character (how much BPE shortens the text)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m gpt.bpe", description=main.__doc__)
    parser.add_argument("--input", required=True, help="a UTF-8 text file, e.g. tinyshakespeare's input.txt")
    parser.add_argument("--vocab-sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--pattern", default="gpt2", help="gpt2, gpt4, none, or a regex")
    args = parser.parse_args(argv)
    text = Path(args.input).read_text(encoding="utf-8")
    pattern = None if args.pattern == "none" else args.pattern
    print(f"{len(text):,} characters, pattern {pattern}")
    print(f"{'vocab':>6}  {'tokens':>10}  {'tokens/char':>11}  {'train s':>7}  {'encode s':>8}")
    for size in args.vocab_sizes:
        t0 = time.perf_counter()
        tok = BPETokenizer.trained(text, size, pattern=pattern)
        t1 = time.perf_counter()
        ids = tok.encode(text, allowed_special="none")
        t2 = time.perf_counter()
        assert tok.decode(ids) == text
        print(f"{tok.vocab_size:>6}  {len(ids):>10,}  {len(ids) / len(text):>11.3f}  {t1 - t0:>7.1f}  {t2 - t1:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
