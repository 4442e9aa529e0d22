"""gpt.bpe: byte-level BPE. Round trips for any Unicode string, deterministic training, rank-ordered merges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpt.bpe import BPETokenizer

regex = pytest.importorskip("regex", reason="the gpt2/gpt4 pre-split patterns need the regex package")

CORPUS = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n"
    "Ünïcödé wörds, 日本語のテキスト, emoji 🙂🙂 and numbers 12345 6789.\n"
) * 3


@pytest.fixture(scope="module", params=[None, "gpt2", "gpt4"])
def trained(request):
    return BPETokenizer.trained(CORPUS, 256 + 60, pattern=request.param, special_tokens=["<|endoftext|>"])


@given(st.text(max_size=200))
def test_round_trip_untrained(s):
    tok = BPETokenizer()
    ids = tok.encode(s)
    assert all(0 <= i < 256 for i in ids)
    assert tok.decode(ids) == s


@given(text=st.text(max_size=200))
def test_round_trip_after_training(trained, text):
    assert trained.decode(trained.encode(text, allowed_special="none")) == text


@given(st.text(alphabet=st.characters(), max_size=50))
def test_round_trip_including_lone_surrogates(s):
    tok = BPETokenizer.trained("abab\udcff", 258, pattern=None)
    assert tok.decode(tok.encode(s + "\ud800")) == s + "\ud800"


def test_a_lone_surrogate_decodes_even_where_the_ids_cut_a_character_elsewhere():
    """decode handles each error where it is (a streamed text, decoded piece by piece, is the same text)."""
    tok = BPETokenizer()
    ids = tok.encode("a\ud800b") + [0xE2, 0x82]  # a lone surrogate, then half of "€"
    assert tok.decode(ids) == "a\ud800b\ufffd"


def test_training_is_deterministic_and_compresses(trained):
    again = BPETokenizer.trained(CORPUS, 256 + 60, pattern=trained.pattern, special_tokens=["<|endoftext|>"])
    assert again.merges == trained.merges and again == trained
    assert len(trained.merges) == 59 and trained.vocab_size == 256 + 60  # vocab_size counts the special token
    assert len(trained.encode(CORPUS)) < 0.6 * len(CORPUS.encode("utf-8"))


def test_ties_go_to_the_smallest_pair():
    # "cd", "d.", ".a" and "ab" occur twice each (the rest once); (46, 97) = ".a" is the smallest of them
    assert BPETokenizer.trained("cd.ab.cd.ab", 257, pattern=None).merges == [(46, 97)]
    counts_equal = BPETokenizer.trained("abcd", 257, pattern=None)
    assert counts_equal.merges == [(97, 98)]  # ab, bc, cd each once: the smallest pair wins


def test_merges_are_applied_in_rank_order():
    # "abc": rank 0 merges (b, c), rank 1 merges (a, b). Applying rank 1 first would give [ab, c];
    # rank order gives [a, bc]
    a, b, c = 97, 98, 99
    tok = BPETokenizer([(b, c), (a, b)])
    assert tok.encode("abc") == [a, 256]
    assert BPETokenizer([(a, b), (b, c)]).encode("abc") == [256, c]
    # equal rank is applied left to right, without overlaps: "aaa" with (a, a) -> [aa, a]
    assert BPETokenizer([(a, a)]).encode("aaa") == [256, a]
    assert BPETokenizer([(a, a), (256, 256)]).encode("aaaa") == [257]


def test_encode_matches_minbpe_loop(trained):
    def reference(tok, text):  # minbpe's encode: merge the lowest-rank pair present, everywhere, repeat
        ids = list(text.encode("utf-8"))
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: tok.ranks.get(p, float("inf")))
            if pair not in tok.ranks:
                break
            new, out, i = 256 + tok.ranks[pair], [], 0
            while i < len(ids):
                if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
                    out.append(new)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            ids = out
        return ids

    untrained_split = BPETokenizer(trained.merges)  # no pre-split, so one reference loop over the whole text
    text = CORPUS[:300]
    assert untrained_split.encode(text) == reference(untrained_split, text)


def test_invalid_merges_are_rejected():
    with pytest.raises(ValueError, match="does not exist"):
        BPETokenizer([(97, 300)])
    with pytest.raises(ValueError, match="twice"):
        BPETokenizer([(97, 98), (97, 98)])


def test_special_tokens(trained):
    eot = trained.special_tokens["<|endoftext|>"]
    text = "hello<|endoftext|>world"
    ids = trained.encode(text, allowed_special="all")
    assert ids.count(eot) == 1 and trained.decode(ids) == text
    assert eot not in trained.encode(text, allowed_special="none")
    assert trained.decode(trained.encode(text, allowed_special="none")) == text
    assert trained.encode(text, allowed_special={"<|endoftext|>"}) == ids
    with pytest.raises(ValueError, match="special token"):
        trained.encode(text)
    with pytest.raises(ValueError, match="out of range"):
        trained.decode([trained.vocab_size])


def test_save_load_round_trip(trained, tmp_path):
    import json

    path = tmp_path / "vocab.json"
    trained.save(path)
    obj = json.loads(path.read_text(encoding="utf-8"))
    assert obj["type"] == "bpe" and obj["merges"][0] == list(trained.merges[0])
    assert obj["pattern"] == trained.pattern and obj["special_tokens"] == trained.special_tokens
    loaded = BPETokenizer.load(path)
    assert loaded == trained
    assert loaded.encode(CORPUS) == trained.encode(CORPUS)
    assert BPETokenizer.from_dict(trained.to_dict()) == trained
    with pytest.raises(ValueError, match="not a BPE"):
        BPETokenizer.from_dict({"type": "char", "chars": ["a"]})


def test_vocab_size_too_small():
    with pytest.raises(ValueError, match="at least 256"):
        BPETokenizer.trained("abc", 256, special_tokens=["<s>"])
