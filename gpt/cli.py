"""The ``gpt`` command: ``prepare``, ``train``, ``sample``, ``attention``, ``explore``, ``quantize``, ``plot``,
``sft``, ``chat``, ``experiment`` (also ``python -m gpt ...``), one argparse tree with ``--help`` on every command (see
``gpt/arguments.py``).

The benchmarks are a package of their own, above ``gpt``: ``python -m benchmarks``."""

from __future__ import annotations

import importlib
import shlex
import sys
from pathlib import Path

from . import attention_maps, explore, files, loss_curves, quantize, signals
from .arguments import ArgumentParser, add_flags, first_line, given_fields, integer, positive_float, positive_int, seed
from .assistant import bot, recipe
from .config import PRESETS, ConfigError, RunConfig, build_config, config_flags
from .signals import TrainingStopped

EXPERIMENTS = {
    "ablation": "gpt.experiments.ablation",
    "addition": "gpt.experiments.addition",
    "pretrain-finetune": "gpt.experiments.pretrain_finetune",
    "modern": "gpt.experiments.modern",
    "lecture-ladder": "gpt.experiments.lecture_ladder",
    "calculator": "gpt.experiments.calculator",
    "assistant": "gpt.experiments.assistant",
}


def _parser() -> ArgumentParser:
    """The whole ``gpt`` command line as one argparse tree: every command has ``--help``."""
    parser = ArgumentParser(prog="gpt", description="A char-level GPT on tinygrad_edu.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prepare = commands.add_parser("prepare", help="prepare a dataset (vocabulary, train.bin, val.bin)")
    kinds = prepare.add_subparsers(dest="kind", required=True, metavar="KIND")
    shakespeare = kinds.add_parser("shakespeare", help="tinyshakespeare (downloaded, or --input / $TINYSHAKESPEARE)")
    shakespeare.add_argument("--input", help="a local copy of tinyshakespeare's input.txt")
    shakespeare.add_argument("--data-dir", help="where prepared datasets live (default: $GPT_DATA_DIR or ./data)")
    text = kinds.add_parser("text", help="any UTF-8 text file")
    text.add_argument("--input", required=True, help="the text file")
    text.add_argument("--name", required=True, help="the dataset's name (a folder under the data directory)")
    text.add_argument("--data-dir", help="where prepared datasets live (default: $GPT_DATA_DIR or ./data)")
    text.add_argument(
        "--tokenizer",
        choices=["char", "bpe"],
        default="char",
        help="characters (the lecture's) or byte-level BPE trained on the train split",
    )
    text.add_argument("--vocab-size", type=int, help="BPE vocabulary size, e.g. 512")

    train = commands.add_parser("train", help="train a GPT, then print a sample")
    train.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="starting configuration (default baby; with --resume, the run's own settings are the start)",
    )
    start = train.add_mutually_exclusive_group()  # continue the run in OUT_DIR, or move it aside: one or neither
    start.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT_DIR/ckpt.npz, exactly as if never stopped; a finished run says so and exits 0; "
        "with a larger --max-iters it trains on, its learning rate following from there the schedule of the "
        "longer run",
    )
    start.add_argument(
        "--replace-run",
        action="store_true",
        help="start over in an OUT_DIR that holds a run: its files are moved into OUT_DIR/replaced-<time>/",
    )
    train.add_argument(
        "--allow-unverified",
        action="store_true",
        help="with --resume, load a checkpoint that carries no sha256 over its header (written by an older gpt)",
    )
    train.add_argument(
        "--allow-changes",
        action="store_true",
        help="with --resume, let the run go on with settings other than its own (the log records the changes)",
    )
    add_flags(train, config_flags())  # every config field, derived from the dataclasses, overrides the preset's

    sample = commands.add_parser("sample", help="generate text from a trained checkpoint")
    sample.add_argument("--out-dir", default="out/baby", help="the training run's directory")
    sample.add_argument("--prompt", default="\n", help="text to continue (its characters must be in the vocabulary)")
    sample.add_argument("--max-new-tokens", type=positive_int, default=500)
    sample.add_argument("--temperature", type=positive_float, default=0.8, help="> 0; lower is more conservative")
    sample.add_argument(
        "--top-k", type=_top_k, default=200, help="sample among the k likeliest tokens (k >= 1; 'all': no cut)"
    )
    sample.add_argument(
        "--seed", type=seed, default=1, help="the first sample's seed; the k-th uses seed + k (torch's range)"
    )
    sample.add_argument("--num-samples", type=positive_int, default=1, help="how many samples, one after another")
    sample.add_argument(
        "--window",
        choices=("slide", "shift"),
        default="slide",
        help="past the context length: slide it one token a step (nanoGPT), or shift it by half of it at once "
        "(llama.cpp; with the key/value cache, far faster)",
    )
    sample.add_argument("--device", default="cpu")
    sample.add_argument(
        "--meta", help="for a nanoGPT run (its ckpt.pt): the meta.pkl of its dataset, which holds the vocabulary"
    )
    sample.add_argument(
        "--allow-unverified",
        action="store_true",
        help="load a checkpoint that carries no sha256 over its header (written by an older gpt), saying so",
    )

    attention_maps.add_arguments(commands.add_parser("attention", help=attention_maps.DESCRIPTION))
    explore.add_arguments(commands.add_parser("explore", help=explore.DESCRIPTION))
    quantize.add_arguments(commands.add_parser("quantize", help="an int8 copy of a trained run (Q8_0-style)"))
    loss_curves.add_arguments(commands.add_parser("plot", help=loss_curves.DESCRIPTION))
    recipe.add_arguments(commands.add_parser("sft", help=recipe.DESCRIPTION, description=recipe.__doc__))
    bot.add_arguments(commands.add_parser("chat", help=bot.DESCRIPTION, description=bot.__doc__))

    experiment = commands.add_parser("experiment", help="run a lecture exercise or the ablation study")
    names = experiment.add_subparsers(dest="experiment", required=True, metavar="NAME")
    for name, module_name in EXPERIMENTS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(names.add_parser(name, help=first_line(module.__doc__), description=module.__doc__))
    return parser


def _top_k(text: str) -> int | None:
    if text.lower() in ("all", "none"):
        return None
    return integer(text, low=1, why=" (or 'all' for no cut)", kind="an integer >= 1 or 'all'")


def main(argv: list[str] | None = None) -> int:
    raw = list(argv if argv is not None else sys.argv[1:])
    if raw[:1] == ["bench"]:  # gone: the benchmarks are a package above gpt, and gpt imports nothing of theirs
        command = shlex.join(["python", "-m", "benchmarks", *(raw[1:] or ["--help"])])
        print(f"gpt: error: `gpt bench` is gone: run `{command}` instead", file=sys.stderr)
        return 2
    args = _parser().parse_args(raw)
    with signals.one_line_exits(), signals.pipe_safe_stdout():
        try:
            return _run(args, raw)
        except signals.ReaderGone:  # `gpt sample | head`: the reader has what it wanted
            return signals.EXIT_BROKEN_PIPE
        except TrainingStopped as exc:
            print(f"gpt {args.command}: {exc}", file=sys.stderr)
            return exc.exit_code
        except signals.Terminated as exc:
            print(f"gpt {args.command}: stopped by {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print(f"gpt {args.command}: interrupted", file=sys.stderr)
            return 130
        except ConfigError as exc:  # a flag outside its domain: a usage error, as argparse reports its own
            flag = f"--{exc.field.replace('_', '-')}: " if exc.field else ""
            print(f"gpt {args.command}: error: {flag}{exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # a full disk, a folder that cannot be written, a busy port: one line
            print(f"gpt {args.command}: error: {files.os_error_message(exc)}", file=sys.stderr)
            return 1
        except (ValueError, RuntimeError, MemoryError) as exc:
            print(f"gpt {args.command}: error: {exc}", file=sys.stderr)
            return 1


def _run(args, raw: list[str]) -> int:
    if args.command == "prepare":
        return _prepare(args)
    if args.command == "train":
        return _train(args)
    if args.command == "sample":
        return _sample(args)
    if args.command == "attention":
        return attention_maps.run(args)
    if args.command == "explore":
        return explore.run(args)
    if args.command == "quantize":
        return quantize.run(args)
    if args.command == "plot":
        return loss_curves.run(args)
    if args.command == "sft":
        return recipe.run(args)
    if args.command == "chat":
        return bot.run(args)
    # gpt experiment NAME: the command line after NAME is recorded with the results
    return importlib.import_module(EXPERIMENTS[args.experiment]).run(args, raw[raw.index(args.experiment) + 1 :])


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


def _train(args) -> int:
    from . import distributed

    world = distributed.world()  # under mpiexec, this process is one rank of a data-parallel run
    given = given_fields(args, config_flags())  # the settings the command line sets, of their types
    if args.resume:  # the run's own settings, then what the command line changes (train() refuses changes)
        resumed = lambda: _saved_run(args, given, world).updated(given)  # noqa: E731
        return distributed.run_ranks(world, "train", lambda: _train_rank(resumed(), args, world))
    run = build_config(args.preset or "baby", given)
    return distributed.run_ranks(world, "train", lambda: _train_rank(run, args, world))


def _saved_run(args, given: dict, world) -> RunConfig:
    """The settings stored in the checkpoint that --resume continues (rank 0 reads it)."""
    from . import checkpoint as ckpt

    build_config(args.preset, given)  # the flags given are checked first, as for a new run
    out_dir = given.get("out_dir") or PRESETS[args.preset or "baby"]["out_dir"]
    header = None
    if world.is_main:
        header, _ = ckpt.read_checkpoint(Path(out_dir) / ckpt.FILENAME, allow_unverified=args.allow_unverified)
    return RunConfig.from_dict(world.broadcast(header))


def _train_rank(run, args, world) -> int:
    from .sample import generate_text
    from .train import train

    result = train(run, resume=args.resume, replace_run=args.replace_run, allow_changes=args.allow_changes, world=world)
    if result.already_complete or not world.is_main:
        return 0
    skipped = f"; {result.skipped_steps} updates skipped (non-finite)" if result.skipped_steps else ""
    print(
        f"done: {result.iterations} iterations in {result.elapsed_s:.1f}s; train loss {result.train_loss:.4f}, "
        f"val loss {result.val_loss:.4f}{skipped}; checkpoint in {result.out_dir}"
    )
    if run.train.sample_chars and not signals.stdout_reader_gone():
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


def _write_or_stop(piece: str) -> None:
    """Print a piece of a sample as it comes; once nobody reads stdout, stop sampling."""
    sys.stdout.write(piece)
    sys.stdout.flush()
    if signals.stdout_reader_gone():
        raise signals.ReaderGone


def _sample(args) -> int:
    import time

    from .sample import generate_text, load_model

    model, tokenizer, header = load_model(
        args.out_dir, args.device, allow_unverified=args.allow_unverified, meta=args.meta
    )
    if header.get("unverified"):
        print(f"warning: {args.out_dir}: checkpoint loaded without verifying it (--allow-unverified)", file=sys.stderr)
    start = time.perf_counter()
    for k in range(args.num_samples):
        if k:
            print("\n" + "-" * 40)
        generate_text(
            model,
            tokenizer,
            args.prompt,
            args.max_new_tokens,
            args.temperature,
            args.top_k,
            (args.seed + k) % 2**64,
            args.device,
            stream=_write_or_stop,
            window=args.window,
        )
    print(flush=True)  # before the figure on stderr, so that a terminal shows them in order
    seconds = time.perf_counter() - start
    tokens = args.num_samples * args.max_new_tokens
    print(f"{tokens} tokens in {seconds:.2f} s: {tokens / seconds:,.0f} tokens/s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
