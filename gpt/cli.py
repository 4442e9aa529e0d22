"""The ``gpt`` command: ``gpt prepare``, ``gpt train``, ``gpt sample`` (also ``python -m gpt ...``)."""

from __future__ import annotations

import argparse
import sys

from .config import MODEL_FIELDS, PRESETS, TRAIN_FIELDS, build_config, parse_value

EPILOG_TRAIN = (
    "Every config field can be overridden: --n_layer 2 --max_iters 500 --device cuda ...\n"
    f"model fields: {', '.join(sorted(k for k in MODEL_FIELDS if k != 'vocab_size'))}\n"
    f"training fields: {', '.join(sorted(TRAIN_FIELDS))}"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gpt", description="A char-level GPT on tinygrad_edu.")
    commands = parser.add_subparsers(dest="command", required=True)

    prepare = commands.add_parser("prepare", help="prepare a dataset (vocabulary, train.bin, val.bin)")
    kinds = prepare.add_subparsers(dest="kind", required=True)
    shakespeare = kinds.add_parser("shakespeare", help="tinyshakespeare (downloaded, or --input / $TINYSHAKESPEARE)")
    shakespeare.add_argument("--input", help="a local copy of tinyshakespeare's input.txt")
    shakespeare.add_argument("--data-dir", help="where prepared datasets live (default: $GPT_DATA_DIR or ./data)")
    text = kinds.add_parser("text", help="any UTF-8 text file")
    text.add_argument("--input", required=True, help="the text file")
    text.add_argument("--name", required=True, help="the dataset's name (a folder under the data directory)")
    text.add_argument("--data-dir")
    text.add_argument(
        "--tokenizer",
        choices=["char", "bpe"],
        default="char",
        help="characters (the lecture's) or byte-level BPE trained on the train split",
    )
    text.add_argument("--vocab-size", "--vocab_size", type=int, help="BPE vocabulary size, e.g. 512")

    train = commands.add_parser(
        "train",
        help="train a GPT, then print a sample",
        epilog=EPILOG_TRAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--preset", choices=sorted(PRESETS), default="baby", help="starting configuration")
    train.add_argument("--resume", action="store_true", help="continue from OUT_DIR/ckpt.npz")

    sample = commands.add_parser("sample", help="generate text from a trained checkpoint")
    sample.add_argument("--out-dir", "--out_dir", default="out/baby", help="the training run's directory")
    sample.add_argument("--prompt", default="\n", help="text to continue (its characters must be in the vocabulary)")
    sample.add_argument("--max-new-tokens", "--max_new_tokens", type=int, default=500)
    sample.add_argument("--temperature", type=float, default=0.8)
    sample.add_argument("--top-k", "--top_k", type=int, default=200)
    sample.add_argument("--seed", type=int, default=1)
    sample.add_argument("--device", default="cpu")
    experiment = commands.add_parser("experiment", help="run a lecture exercise or the ablation study", add_help=False)
    experiment.add_argument("name", help="ablation, addition, pretrain-finetune or modern (`--help` after it)")
    commands.add_parser("attention", help="heat maps of every layer's and head's attention", add_help=False)
    bench = commands.add_parser(
        "bench", help="benchmarks beside PyTorch (same as `python -m benchmarks`)", add_help=False
    )
    bench.add_argument("what", nargs="?", default="--help")
    return parser


EXPERIMENTS = {
    "ablation": "gpt.experiments.ablation",
    "addition": "gpt.experiments.addition",
    "pretrain-finetune": "gpt.experiments.pretrain_finetune",
    "modern": "gpt.experiments.modern",
}


def _experiment(args, extra) -> int:
    """Each experiment is a module with ``main(argv) -> int``; this only finds it."""
    import importlib

    if args.name not in EXPERIMENTS:
        print(f"gpt experiment: unknown experiment {args.name!r}; choose one of {sorted(EXPERIMENTS)}", file=sys.stderr)
        return 2
    return importlib.import_module(EXPERIMENTS[args.name]).main(extra)


def _bench(args, extra) -> int:
    from benchmarks.__main__ import main as bench_main

    return bench_main([args.what, *extra] if args.what != "--help" else ["--help"])


def _overrides(extra: list[str]) -> dict:
    """``--name value`` pairs (also ``--name=value``; dashes or underscores) for any config field."""
    values, i = {}, 0
    while i < len(extra):
        arg = extra[i]
        if not arg.startswith("--"):
            raise SystemExit(f"gpt train: unexpected argument {arg!r} (overrides look like --n_layer 2)")
        name, _, value = arg[2:].partition("=")
        name = name.replace("-", "_")
        if not value:
            if i + 1 >= len(extra):
                raise SystemExit(f"gpt train: --{name} needs a value")
            value, i = extra[i + 1], i + 1
        if name not in MODEL_FIELDS and name not in TRAIN_FIELDS:
            raise SystemExit(f"gpt train: unknown option --{name}\n{EPILOG_TRAIN}")
        try:
            values[name] = parse_value(name, value)
        except ValueError as exc:
            raise SystemExit(f"gpt train: {exc}") from None
        i += 1
    return values


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("train", "experiment", "bench", "attention"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "prepare":
            return _prepare(args)
        if args.command == "train":
            return _train(args, extra)
        if args.command == "experiment":
            return _experiment(args, extra)
        if args.command == "bench":
            return _bench(args, extra)
        if args.command == "attention":
            from .attention import main as attention_main

            return attention_main(extra)
        return _sample(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"gpt {args.command}: error: {exc}", file=sys.stderr)
        return 1


def _prepare(args) -> int:
    from .data import prepare_shakespeare, prepare_text_file, resolve_dataset_dir

    if args.kind == "shakespeare":
        meta = prepare_shakespeare(input_path=args.input, data_dir=args.data_dir)
        name = "shakespeare"
    else:
        meta = prepare_text_file(
            args.input, args.name, data_dir=args.data_dir, tokenizer=args.tokenizer, vocab_size=args.vocab_size
        )
        name = args.name
    print(
        f"prepared {name} in {resolve_dataset_dir(name, args.data_dir)}: vocabulary {meta['vocab_size']}, "
        f"{meta['train_tokens']:,} train / {meta['val_tokens']:,} val tokens"
    )
    return 0


def _train(args, extra) -> int:
    from .sample import generate_text
    from .train import train

    run = build_config(args.preset, _overrides(extra))
    result = train(run, resume=args.resume)
    print(
        f"done: {result.iterations} iterations in {result.elapsed_s:.1f}s; "
        f"train loss {result.train_loss:.4f}, val loss {result.val_loss:.4f}; checkpoint in {result.out_dir}"
    )
    if run.train.sample_chars:
        print("-" * 80)
        print(
            generate_text(
                result.model,
                result.tokenizer,
                "\n",
                run.train.sample_chars,
                temperature=0.8,
                top_k=200,
                seed=run.train.seed,
                device=run.train.device,
            )
        )
    return 0


def _sample(args) -> int:
    from .sample import generate_text, load_model

    model, tokenizer, _ = load_model(args.out_dir, args.device)
    print(
        generate_text(
            model,
            tokenizer,
            args.prompt,
            args.max_new_tokens,
            args.temperature,
            args.top_k if args.top_k and args.top_k > 0 else None,
            args.seed,
            args.device,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
