"""The original's side of the fidelity check (issue 17; gpu/fidelity.sh runs both sides).

Runs igul222/plaid's train.py, unmodified, through the reference harness (.gpu/ref-harness: stand-ins
for apex and flash-attn) on the batches of a plan folder that `plaid.bench.FidelityRun plan` made:
a dataset registered into lib.datasets.REGISTRY hands train.py the plan's training windows in step
order and its held-out windows over and over, exactly as FidelityRun's BatchSources do for ours.
Writes the validation curve to DIR/original.tsv, in the format of DIR/ours.tsv:
    digest  train0|val0  SUM       Σ (i+1)·id over the first batch's ids, row-major
    val     STEPS  NLL  SECONDS    after each hook_freq steps (train.py's hook)
    final   STEPS  NLL  SECONDS    train.py's final validation, of the same weights as the last val
usage: python3 gpu/fidelity_original.py DIR
Environment: PLAID_ORIGINAL (default .gpu/original), PLAID_REF_HARNESS (default .gpu/ref-harness).
"""
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_spec(path):
    """NAME=VALUE lines (FidelityPlan.write): {'train': {...}, 'fidelity': {...}}."""
    spec = {"train": {}, "fidelity": {}}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            group, dot, name = key.partition(".")
            if not sep or not dot or group not in spec:
                raise ValueError(f"{path}: '{line}' is not train.NAME=VALUE or fidelity.NAME=VALUE")
            spec[group][name] = value
    return spec


def typed(text):
    """A train.py option's value as fire would hand it over: int, float, bool or text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def digest(batch):
    ids = batch.reshape(-1).to("cpu").numpy().astype(np.int64)
    return int((np.arange(1, ids.size + 1, dtype=np.int64) * ids).sum())


def main(run_dir):
    spec = read_spec(os.path.join(run_dir, "spec.txt"))
    options = {name: typed(value) for name, value in spec["train"].items()}
    harness = spec["fidelity"]
    seq_len, batch, steps = options["seq_len"], options["batch_size"], options["steps"]
    val_batch, hook_freq = options["val_batch_size"], options["hook_freq"]
    val_batches, val_passes = int(harness["val_batches"]), int(harness["val_passes"])
    vocab, seed = int(harness["vocab_size"]), int(harness["seed"])

    tokens = np.fromfile(harness["tokens"], dtype="<i4")
    windows = np.fromfile(os.path.join(run_dir, "windows.i32"), dtype="<i4")
    n_train = steps * batch
    if windows.size != n_train + val_batches * val_batch:
        raise ValueError(f"windows.i32 holds {windows.size} windows, the spec says {n_train + val_batches * val_batch}")
    train_windows = windows[:n_train].reshape(steps, batch)
    val_windows = windows[n_train:].reshape(val_batches, val_batch)
    offsets = np.arange(seq_len)

    os.environ.setdefault("PLAID_ORIGINAL", os.path.join(ROOT, ".gpu", "original"))
    sys.path.insert(0, os.environ.get("PLAID_REF_HARNESS", os.path.join(ROOT, ".gpu", "ref-harness")))
    import common  # noqa: F401  puts the original on the path (and moves into its folder)
    import random
    import torch
    import lib.datasets
    import lib.ddp
    import train

    curve = open(os.path.join(run_dir, "original.tsv"), "w", buffering=1)
    started = [None]

    def gather(starts):
        return torch.from_numpy(tokens[starts[:, None] + offsets[None, :]].astype(np.int64)).cuda()

    def fidelity(batch_size, val_batch_size, seq):
        if (batch_size, val_batch_size, seq) != (batch, val_batch, seq_len):
            raise ValueError(f"train.py asked for batches {batch_size}/{val_batch_size} × {seq}, "
                             f"the plan holds {batch}/{val_batch} × {seq_len}")

        def training():
            for step in range(steps):
                x = gather(train_windows[step])
                if step == 0:
                    curve.write(f"digest\ttrain0\t{digest(x)}\n")
                    started[0] = time.time()
                yield x
            raise RuntimeError(f"the plan holds {steps} training batches; train.py asked for more")

        def held_out(first):
            # from the first held-out batch, over and over: each validation pass reads whole cycles
            i = 0
            while True:
                x = gather(val_windows[i % val_batches])
                if first and i == 0:
                    curve.write(f"digest\tval0\t{digest(x)}\n")
                yield x
                i += 1

        word2idx = {str(i).encode(): i for i in range(vocab)}
        idx2word = {i: w for w, i in word2idx.items()}
        return (training(), held_out(True), held_out(False)), (word2idx, idx2word)

    lib.datasets.REGISTRY["fidelity"] = fidelity

    # train.py's hook prints each validation NLL; read them as they are printed.
    validations = [0]

    def watching_print(*args, **kwargs):
        print(*args, **kwargs)
        text = " ".join(str(a) for a in args)
        elapsed = time.time() - started[0] if started[0] else 0.0
        if text.startswith(f"NLL (val, seq_len={seq_len}): "):
            validations[0] += 1
            curve.write(f"val\t{validations[0] * hook_freq}\t{float(text.rsplit(' ', 1)[1]):.6f}\t{elapsed:.1f}\n")
        elif text.startswith("Final val NLL: "):
            curve.write(f"final\t{steps}\t{float(text.rsplit(' ', 1)[1]):.6f}\t{elapsed:.1f}\n")

    train.print = watching_print
    train.plt.savefig = lambda *a, **k: None  # the hook's gamma plot: no image files, no image library needed

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    per_pass = val_batches * val_passes
    # compute_nll reads val_steps + 1 batches
    lib.ddp.wrap_main(train.main)(
        dataset="fidelity", val_steps=per_pass - 1, final_val_steps=per_pass - 1, print_freq=hook_freq,
        save_weights=False, **options)
    curve.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 gpu/fidelity_original.py DIR")
    main(os.path.abspath(sys.argv[1]))
