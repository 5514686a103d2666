#!/usr/bin/env python3
"""Reference TV-DIP fit in PyTorch (shared/reference/tv-dip.md sections 2-3), the other side of
`cargo bench -p engine --bench parity`.

The network is the DIP "skip" hourglass of `models/skip.py` (reflection padding, stride-2 3x3
downsampling, bilinear x2 upsampling with align_corners=False, BatchNorm in batch-statistics mode,
LeakyReLU(0.2), sigmoid output) with PyTorch's default initialisation; z ~ U[0, 0.1) with 32
channels, perturbed by N(0, sigma^2) every step; Adam with PyTorch's defaults; one random training
frame per step; loss TV_k(y - f(z)) (+ TV_k1 for the SPN/LPN schedules) with sum reduction and the
notebook's step schedule, optionally compressed into the run length.

Input: a frames file (safetensors) with `train` (N, H, W), `all` (M, H, W) and `clean` (M, H, W),
float32 in raw units, as the parity bench writes it, so both sides fit exactly the same pixels.
Frames are normalised as the reference notebooks do (raw / 255 for 8-bit data; `--norm`).

Output: one JSON line per checkpoint (step, loss, mean min-max PSNR, least-squares PSNR and SSIM
over `all` against `clean`, replicating edge/engine/src/nuc/metrics.rs) and, with --out, the pattern
at every checkpoint (raw units) in a safetensors file, so the bench scores it with the engine's
own metric code. --init loads the engine's initial weights and z (a TV-DIP state file); with
--trace the step sequence (frame, k, k1) is read from a file instead of drawn, and --dump-first
writes the first step's output, loss and gradients for a one-step comparison.

Run with any python3: unless torch is importable, it re-runs itself in the venv the dip bench
makes (default <repo>/target/torch-venv; scripts/torch_dip_bench.py creates it on first use).
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_dip_bench import ensure_torch  # noqa: E402

# The notebooks' k blocks: (last iteration, inclusive, in reference iterations; k range inclusive).
SCHEDULES = {
    "video": (18000, [(1500, 50, 59), (3000, 40, 49), (4500, 30, 39), (6000, 20, 29),
                      (7500, 10, 19), (9000, 3, 9), (None, 1, 1)]),
    "spn": (15000, [(1500, 50, 59), (3000, 40, 49), (4500, 30, 39), (6000, 20, 29),
                    (7500, 10, 19), (None, 3, 9)]),
    "lpn": (8000, [(3000, 20, 29), (None, 10, 19)]),
}


class Schedule:
    """The engine's StepSchedule: block ends scaled by run_len / reference_len and rounded."""

    def __init__(self, kind, run_len, compress):
        ref_len, blocks = SCHEDULES[kind]
        scale = max(run_len, 1) / ref_len if compress else 1.0
        self.kind = kind
        self.blocks = [(None if u is None else int(round(u * scale)), lo, hi) for u, lo, hi in blocks]

    def k_range(self, step):
        for until, lo, hi in self.blocks:
            if until is None or step <= until:
                return lo, hi
        return self.blocks[-1][1:]

    def terms(self, step, rng):
        """[(k, weight)] of this step and the weight of mean(out^2)."""
        lo, hi = self.k_range(step)
        k = int(rng.integers(lo, hi + 1))
        if self.kind == "video":
            return [(k, 1.0)], 0.0
        k1 = int(rng.integers(1, 4))
        return [(k, 1.0), (k1, 1.0)], (1.0 if self.kind == "lpn" else 0.0)


def build_net(torch, nn, levels, down, up, skip, depth):
    """skip(depth, 1, [down]*levels, [up]*levels, [skip]*levels, upsample 'bilinear',
    pad 'reflection', need_sigmoid, need_bias, LeakyReLU) with the engine's parameter names."""

    def conv(cin, cout, k, stride=1):
        pad = (k - 1) // 2
        layers = [nn.ReflectionPad2d(pad)] if pad else []
        layers.append(nn.Conv2d(cin, cout, k, stride, padding=0, bias=True))
        return nn.Sequential(*layers)

    class Branch(nn.Module):
        def __init__(self, cin, cout, k, stride=1):
            super().__init__()
            self.conv = conv(cin, cout, k, stride)
            self.bn = nn.BatchNorm2d(cout)
            self.act = nn.LeakyReLU(0.2)

        def forward(self, x):
            return self.act(self.bn(self.conv(x)))

    class Level(nn.Module):
        def __init__(self, d_in, inner):
            super().__init__()
            self.skip = Branch(d_in, skip, 1) if skip > 0 else None
            self.down = Branch(d_in, down, 3, 2)
            self.deep = Branch(down, down, 3)
            self.inner = inner
            self.upsample = nn.Upsample(scale_factor=2, mode="bilinear")
            deep_out = up if inner is not None else down
            self.merge_bn = nn.BatchNorm2d(skip + deep_out)
            self.up = Branch(skip + deep_out, up, 3)
            self.up1x1 = Branch(up, up, 1)

        def forward(self, x):
            d = self.deep(self.down(x))
            if self.inner is not None:
                d = self.inner(d)
            d = self.upsample(d)
            if self.skip is not None:
                s = self.skip(x)
                h, w = min(s.shape[2], d.shape[2]), min(s.shape[3], d.shape[3])
                d = torch.cat([s[..., :h, :w], d[..., :h, :w]], 1)
            return self.up1x1(self.up(self.merge_bn(d)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            inner = None
            for i in reversed(range(levels)):
                inner = Level(depth if i == 0 else down, inner)
            self.top = inner
            self.out = nn.Conv2d(up, 1, 1, bias=True)

        def forward(self, z):
            return torch.sigmoid(self.out(self.top(z)))

        def engine_params(self):
            """(engine name, parameter) pairs: l{i}.{down,down_bn,...}.{weight,bias}, out.*."""
            pairs = []
            lvl, i = self.top, 0
            while lvl is not None:
                for name in ["skip", "down", "deep", "up", "up1x1"]:
                    b = getattr(lvl, name)
                    if b is None:
                        continue
                    pairs += [(f"l{i}.{name}.weight", b.conv[-1].weight), (f"l{i}.{name}.bias", b.conv[-1].bias),
                              (f"l{i}.{name}_bn.weight", b.bn.weight), (f"l{i}.{name}_bn.bias", b.bn.bias)]
                pairs += [(f"l{i}.merge_bn.weight", lvl.merge_bn.weight), (f"l{i}.merge_bn.bias", lvl.merge_bn.bias)]
                lvl, i = lvl.inner, i + 1
            pairs += [("out.weight", self.out.weight), ("out.bias", self.out.bias)]
            return pairs

    return Net()


# --- metrics: edge/engine/src/nuc/metrics.rs, line by line -------------------------------------------

def minmax(np, v):
    v = v.astype(np.float32)
    return (v - v.min()) / (v.max() - v.min() + np.float32(1e-8))


def psnr(np, a, b, data_range=1.0):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10.0 * np.log10(data_range ** 2 / mse)


def psnr_ls(np, est, clean):
    c = minmax(np, clean).astype(np.float64)
    e = est.astype(np.float64)
    n = e.size
    var = (e * e).sum() - e.sum() ** 2 / n
    gain = ((e * c).sum() - e.sum() * c.sum() / n) / var if var > 0 else 0.0
    offset = (c.sum() - gain * e.sum()) / n
    return psnr(np, (gain * e + offset).astype(np.float32), c)


def ssim(np, a, b, data_range=1.0):
    """scikit-image defaults: 7x7 uniform window, sample covariance, interior mean."""
    win = 7
    a, b = a.astype(np.float64), b.astype(np.float64)
    h, w = a.shape
    npx = float(win * win)
    cov_norm = npx / (npx - 1.0)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def box(x):
        ii = np.zeros((h + 1, w + 1))
        ii[1:, 1:] = x.cumsum(0).cumsum(1)
        return (ii[win:, win:] - ii[:-win, win:] - ii[win:, :-win] + ii[:-win, :-win]) / npx

    ux, uy = box(a), box(b)
    vx = cov_norm * (box(a * a) - ux * ux)
    vy = cov_norm * (box(b * b) - uy * uy)
    vxy = cov_norm * (box(a * b) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s.mean())


def score(np, frames, clean, pattern):
    mm, ls, ss = [], [], []
    for f, c in zip(frames, clean):
        corr = (f - pattern).astype(np.float32)
        mm.append(psnr(np, minmax(np, corr), minmax(np, c)))
        ls.append(psnr_ls(np, corr, c))
        ss.append(ssim(np, minmax(np, corr), minmax(np, c)))
    return float(np.mean(mm)), float(np.mean(ls)), float(np.mean(ss))


def golden_values(name, shape, p, np):
    """Deterministic parameter values for the golden test (edge/engine/tests/nuc_parity.rs computes the
    same): p is the index of `name` in the sorted list of parameter names."""
    n = int(np.prod(shape))
    j = np.arange(n, dtype=np.float64)
    wave = np.sin(0.7 * j + 1.3 * p + 0.5)
    if len(shape) == 4:
        v = wave / np.sqrt(shape[1] * shape[2] * shape[3])
    elif name.endswith("_bn.weight"):
        v = 1.0 + 0.1 * wave
    else:
        v = 0.1 * wave
    return v.reshape(shape).astype(np.float32)


def golden(torch, nn, np):
    """Prints the figures edge/engine/tests/nuc_parity.rs pins: a 2-level skip net (4 channels, 2 skip,
    z of 3 channels) on an 8x12 frame with deterministic weights, loss TV_2 + TV_1 of
    (y - f(z)): loss, output, every gradient's L2 norm, and the loss after one Adam step."""
    torch.set_num_threads(1)
    h, w = 8, 12
    net = build_net(torch, nn, 2, 4, 4, 2, 3).double()
    params = dict(net.engine_params())
    names = sorted(params)
    with torch.no_grad():
        for i, name in enumerate(names):
            params[name].copy_(torch.from_numpy(golden_values(name, tuple(params[name].shape), i, np)))
    j = np.arange(3 * h * w, dtype=np.float64)
    z = torch.from_numpy((0.05 * (1.0 + np.sin(0.91 * j))).astype(np.float32)).double().reshape(1, 3, h, w)
    k = np.arange(h * w, dtype=np.float64)
    y = torch.from_numpy((0.5 + 0.3 * np.sin(0.37 * k) + 0.1 * np.sin(0.05 * k * k)).astype(np.float32))
    y = y.double().reshape(1, 1, h, w)

    def tv(r, k):
        return (r[..., k:, :] - r[..., :-k, :]).abs().sum() + (r[..., :, k:] - r[..., :, :-k]).abs().sum()

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    out = net(z)
    loss = tv(y - out, 2) + tv(y - out, 1)
    loss.backward()
    grads = {name: float(params[name].grad.norm()) for name in names}
    opt.step()
    out2 = net(z)
    loss2 = tv(y - out2, 2) + tv(y - out2, 1)
    print(json.dumps({"loss": loss.item(), "out_sum": out.sum().item(), "out_first": out[0, 0, 0, 0].item(),
                      "out_last": out[0, 0, -1, -1].item(), "loss_after_adam": loss2.item(),
                      "out_sum_after_adam": out2.sum().item(), "grad_norms": grads}, indent=1))


def ensure_safetensors():
    """The frames and patterns travel as safetensors: installs the package into the venv the
    first time (the dip bench's venv holds only torch and numpy)."""
    try:
        import safetensors.numpy  # noqa: F401
    except ImportError:
        import subprocess
        print("installing safetensors from PyPI into the venv (once)", file=sys.stderr)
        pip = subprocess.run([sys.executable, "-m", "pip", "install", "--progress-bar", "off", "safetensors"],
                             stdout=sys.stderr)
        if pip.returncode != 0:
            sys.exit(f"pip install safetensors failed with status {pip.returncode}")


def main():
    if "--golden" in sys.argv:
        ensure_torch(os.path.join(HERE, "..", "target", "torch-venv"))
        import numpy as np
        import torch
        from torch import nn
        golden(torch, nn, np)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", required=True, help="safetensors with train/all/clean (raw units)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--checkpoints", default="", help="comma list of steps to score (default: the last)")
    ap.add_argument("--schedule", default="spn", choices=sorted(SCHEDULES))
    ap.add_argument("--no-compress", action="store_true", help="reference block lengths, not compressed")
    ap.add_argument("--levels", type=int, default=5)
    ap.add_argument("--channels", type=int, default=32, help="down and up channels")
    ap.add_argument("--skip", type=int, default=4)
    ap.add_argument("--depth", type=int, default=32, help="channels of z")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--sigma", type=float, default=3e-5, help="std of the z perturbation")
    ap.add_argument("--norm", default="255",
                    help="frame scale: a number (y = raw / N, the notebooks' 255) or 'minmax' "
                         "(y = (raw - min) / (max - min) over the training frames)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--init", help="engine TV-DIP state file (net.* and z) to start from")
    ap.add_argument("--trace", help="file of 'frame k k1' lines, one per step, instead of random draws")
    ap.add_argument("--dump-first", help="write the first step's output, loss and gradients here")
    ap.add_argument("--out", help="write the pattern (raw units) of every checkpoint here")
    ap.add_argument("--venv", default=os.path.join(HERE, "..", "target", "torch-venv"))
    args = ap.parse_args()
    ensure_torch(os.path.abspath(args.venv))
    ensure_safetensors()
    import numpy as np
    import torch
    from torch import nn
    from safetensors.numpy import load_file, save_file

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    dev = torch.device(args.device)
    data = load_file(args.frames)
    train, frames, clean = data["train"], data["all"], data["clean"]
    n, h, w = train.shape
    if args.norm == "minmax":
        lo, hi = float(train.min()), float(train.max())
        offset, scale = lo, (hi - lo if hi > lo else 1.0)
    else:
        offset, scale = 0.0, float(args.norm)
    ys = [torch.from_numpy((t - offset) / scale).float().to(dev).reshape(1, 1, h, w) for t in train]

    net = build_net(torch, nn, args.levels, args.channels, args.channels, args.skip, args.depth).to(dev)
    m = 2 ** args.levels
    hp, wp = max(-(-h // m) * m, 2 * m), max(-(-w // m) * m, 2 * m)
    z = torch.rand(1, args.depth, hp, wp, device=dev) * 0.1
    if args.init:
        state = load_file(args.init)
        for name, p in net.engine_params():
            t = torch.from_numpy(state[f"net.{name}"])
            if tuple(t.shape) != tuple(p.shape):
                sys.exit(f"{name}: engine shape {tuple(t.shape)}, here {tuple(p.shape)}")
            with torch.no_grad():
                p.copy_(t)
        z = torch.from_numpy(state["z"]).to(dev)
    trace = None
    if args.trace:
        with open(args.trace) as f:
            trace = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
    schedule = Schedule(args.schedule, args.steps, not args.no_compress)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    checkpoints = sorted({int(c) for c in args.checkpoints.split(",") if c} | {args.steps})

    def tv(r, k):
        return (r[..., k:, :] - r[..., :-k, :]).abs().sum() + (r[..., :, k:] - r[..., :, :-k]).abs().sum()

    patterns = {}
    start = time.perf_counter()
    inp = z
    recent = []
    for step in range(args.steps):
        if trace is not None:
            i, k, k1 = trace[step]
            terms, out_sq = [(k, 1.0)] + ([(k1, 1.0)] if k1 > 0 else []), 0.0
        else:
            i = int(rng.integers(0, n))
            terms, out_sq = schedule.terms(step, rng)
        inp = z + torch.randn_like(z) * args.sigma if args.sigma > 0 else z
        out = net(inp)[..., :h, :w]
        r = ys[i] - out
        loss = sum(wt * tv(r, k) for k, wt in terms)
        if out_sq:
            loss = loss + out_sq * (out ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if step == 0 and args.dump_first:
            dump = {"out": out.detach().cpu().numpy()[0, 0], "loss": np.array([loss.item()], np.float32)}
            for name, p in net.engine_params():
                dump[f"grad.{name}"] = p.grad.detach().cpu().numpy()
            save_file(dump, args.dump_first)
        opt.step()
        recent = (recent + [loss.item()])[-16:]
        if step + 1 in checkpoints:
            with torch.no_grad():
                # The reference's final forward pass: the last perturbed input, BN batch stats.
                pat = net(inp)[0, 0, :h, :w].cpu().numpy().astype(np.float64) * scale
            pat = (pat - pat.mean()).astype(np.float32)
            patterns[f"pattern.{step + 1}"] = pat
            mm, ls, ss = score(np, frames, clean, pat)
            print(json.dumps({"step": step + 1, "loss": float(np.mean(recent)), "psnr_mm": mm, "psnr_ls": ls,
                              "ssim": ss, "seconds": time.perf_counter() - start}), flush=True)
    if args.out:
        save_file(patterns, args.out)


if __name__ == "__main__":
    main()
