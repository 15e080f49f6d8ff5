"""Compares the validation NLL curves of a fidelity run (gpu/fidelity.sh): DIR/original.tsv from the
original's train.py, DIR/ours.tsv from plaid.bench.FidelityRun. Prints both curves side by side with
ours ÷ original − 1 at each point, then the verdict: PASS when both sides read the same first batches
(their digests agree), both finished, and at the end (the mean of the last validation and the final one,
two draws of the estimator's noise on the same weights) ours is within the tolerance of the original's.
usage: python3 gpu/fidelity_compare.py DIR [TOLERANCE]   (default 0.02); exit 0 on PASS, 1 on FAIL.
"""
import os
import sys


def read_curve(path):
    curve = {"digest": {}, "val": {}, "final": None}
    if not os.path.exists(path):
        return curve
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if fields[0] == "digest":
                curve["digest"][fields[1]] = int(fields[2])
            elif fields[0] == "val":
                curve["val"][int(fields[1])] = (float(fields[2]), float(fields[3]))
            elif fields[0] == "final":
                curve["final"] = (int(fields[1]), float(fields[2]), float(fields[3]))
    return curve


def end_value(curve, steps):
    """The mean of the evaluations of the last weights that are there, and how far apart they are."""
    values = [v for v in (curve["val"].get(steps, (None,))[0], curve["final"] and curve["final"][1])
              if v is not None]
    if not values:
        return None, None
    mean = sum(values) / len(values)
    return mean, (abs(values[0] - values[1]) / mean if len(values) == 2 else None)


def spec_value(run_dir, name):
    with open(os.path.join(run_dir, "spec.txt")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            if key == "train." + name:
                return int(value)
    raise ValueError(f"spec.txt has no train.{name}")


def cell(row, field, fmt):
    return format(row[field], fmt) if row is not None else "—"


def relative(ours, original):
    return ours / original - 1


def compare(run_dir, tolerance):
    steps, hook_freq = spec_value(run_dir, "steps"), spec_value(run_dir, "hook_freq")
    original = read_curve(os.path.join(run_dir, "original.tsv"))
    ours = read_curve(os.path.join(run_dir, "ours.tsv"))
    expected = [hook_freq * k for k in range(1, steps // hook_freq + 1)]

    print(f"\nvalidation NLL (nats/token), {steps} steps, every {hook_freq}")
    print(f"{'steps':>6} {'original':>10} {'ours':>10} {'ours÷orig−1':>12} {'orig s':>8} {'ours s':>8}")
    diffs = []
    for step in sorted(set(expected) | set(original["val"]) | set(ours["val"])):
        o, u = original["val"].get(step), ours["val"].get(step)
        d = relative(u[0], o[0]) if o and u else None
        if d is not None:
            diffs.append((step, d))
        print(f"{step:>6} {cell(o, 0, '10.4f'):>10} {cell(u, 0, '10.4f'):>10} "
              f"{cell((100 * d,) if d is not None else None, 0, '+11.2f'):>11}% "
              f"{cell(o, 1, '8.1f'):>8} {cell(u, 1, '8.1f'):>8}")
    for name, c in (("original", original), ("ours", ours)):
        if c["final"]:
            print(f"final ({name}): {c['final'][1]:.4f} after {c['final'][0]} steps, {c['final'][2]:.1f} s")

    problems = []
    for side, c in (("original", original), ("ours", ours)):
        missing = [s for s in expected if s not in c["val"]]
        if missing or not c["final"]:
            problems.append(f"{side} did not finish: validations missing after {missing or 'none'} steps"
                            f"{'' if c['final'] else ', no final validation'}")
    for batch in ("train0", "val0"):
        a, b = original["digest"].get(batch), ours["digest"].get(batch)
        if a is None or a != b:
            problems.append(f"the first {batch[:-1]} batches differ or were not recorded: "
                            f"digest {a} (original) against {b} (ours)")

    if diffs:
        late = [d for s, d in diffs if s > steps // 2]
        print(f"\nalong the way: ours ÷ original − 1 from {100 * min(d for _, d in diffs):+.2f}% "
              f"to {100 * max(d for _, d in diffs):+.2f}%, mean {100 * sum(d for _, d in diffs) / len(diffs):+.2f}%"
              + (f"; over the second half at most {100 * max(abs(d) for d in late):.2f}% apart" if late else ""))
    end_o, noise_o = end_value(original, steps)
    end_u, noise_u = end_value(ours, steps)
    for name, noise in (("original", noise_o), ("ours", noise_u)):
        if noise is not None:
            print(f"estimator noise ({name}): the last validation and the final one, same weights, "
                  f"{100 * noise:.2f}% apart")
    noises = [n for n in (noise_o, noise_u) if n is not None]
    if noises and max(noises) > tolerance / 2:
        print(f"  note: the estimator's noise is of the tolerance's order; more --val_passes or --val_batches "
              f"would tell a real difference from it")
    if end_o is None or end_u is None:
        problems.append("no end value on one side")
        verdict = "FAIL"
    else:
        end = relative(end_u, end_o)
        print(f"end (mean of the last validation and the final one): original {end_o:.4f}, ours {end_u:.4f}, "
              f"ours ÷ original − 1 = {100 * end:+.2f}% (tolerance ±{100 * tolerance:.0f}%)")
        if abs(end) > tolerance:
            problems.append(f"the end values are {100 * abs(end):.2f}% apart, more than {100 * tolerance:.0f}%")
        verdict = "FAIL" if problems else "PASS"
    for p in problems:
        print(f"  - {p}")
    print(f"FIDELITY {verdict}")
    return verdict == "PASS"


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python3 gpu/fidelity_compare.py DIR [TOLERANCE]")
    sys.exit(0 if compare(sys.argv[1], float(sys.argv[2]) if len(sys.argv) == 3 else 0.02) else 1)
