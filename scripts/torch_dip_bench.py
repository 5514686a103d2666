#!/usr/bin/env python3
"""PyTorch side of `cargo bench -p engine --bench dip`: times forward, backward and one whole Adam
step of the reference TV-DIP skip network (tv-dip.md section 3) on the CPU (or a CUDA device,
--device cuda:N) and prints one JSON line with milliseconds per phase and the peak memory: the
process's resident memory (VmHWM) on the CPU, the device memory in use (total - free, sampled
after each step, as the Rust side does) on a GPU.

Run with any python3: unless torch is importable, it creates a virtual environment at --venv
(default: <repo>/target/torch-venv), installs torch from PyPI into it and re-runs itself there.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import venv


def ensure_torch(venv_dir):
    """Returns normally when torch can be imported; otherwise re-executes inside the venv."""
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    py = os.path.join(venv_dir, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(venv_dir):
        sys.exit(f"torch is still not importable inside {venv_dir}")
    if not os.path.exists(py):
        print(f"creating virtual environment {venv_dir}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    check = subprocess.run([py, "-c", "import torch"], capture_output=True)
    if check.returncode != 0:
        print("installing torch from PyPI into it (a few GB, once)", file=sys.stderr)
        pip = subprocess.run([py, "-m", "pip", "install", "--progress-bar", "off", "torch", "numpy"],
                             stdout=sys.stderr)
        if pip.returncode != 0:
            sys.exit(f"pip install torch failed with status {pip.returncode}")
    os.execv(py, [py] + sys.argv)


def peak_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def build_net(torch, nn, channels, levels=5, skip=4, depth=32):
    class Conv(nn.Sequential):
        def __init__(self, cin, cout, k, stride=1):
            pad = (k - 1) // 2
            layers = [nn.ReflectionPad2d(pad)] if pad else []
            layers.append(nn.Conv2d(cin, cout, k, stride, padding=0, bias=True))
            super().__init__(*layers)

    def branch(cin, cout, k, stride=1):
        return nn.Sequential(Conv(cin, cout, k, stride), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2))

    class Level(nn.Module):
        def __init__(self, d_in, inner):
            super().__init__()
            self.skip = branch(d_in, skip, 1)
            self.down = branch(d_in, channels, 3, 2)
            self.deep = branch(channels, channels, 3)
            self.inner = inner
            self.up_sample = nn.Upsample(scale_factor=2, mode="bilinear")
            self.merge_bn = nn.BatchNorm2d(skip + channels)
            self.up = branch(skip + channels, channels, 3)
            self.up1x1 = branch(channels, channels, 1)

        def forward(self, x):
            d = self.deep(self.down(x))
            if self.inner is not None:
                d = self.inner(d)
            d = self.up_sample(d)
            m = self.merge_bn(torch.cat([self.skip(x), d], 1))
            return self.up1x1(self.up(m))

    inner = None
    for i in reversed(range(levels)):
        inner = Level(depth if i == 0 else channels, inner)
    return nn.Sequential(inner, nn.Conv2d(channels, 1, 1, bias=True), nn.Sigmoid())


def tv(r, k):
    return (r[..., k:, :] - r[..., :-k, :]).abs().sum() + (r[..., :, k:] - r[..., :, :-k]).abs().sum()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--channels", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu or cuda:N")
    ap.add_argument("--venv", default=os.path.join(here, "..", "target", "torch-venv"))
    ap.add_argument("--setup-only", action="store_true", help="only make sure torch is installed")
    args = ap.parse_args()
    ensure_torch(os.path.abspath(args.venv))
    import torch
    from torch import nn

    if args.setup_only:
        print(json.dumps({"torch": torch.__version__}))
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    net = build_net(torch, nn, args.channels).to(dev)
    h, w = args.height, args.width
    # Like the Rust SkipNet: run at sides padded up to a multiple of 2^levels (at least
    # 2^(levels+1)) and crop the output back to the frame.
    m = 2 ** 5
    hp, wp = max(-(-h // m) * m, 2 * m), max(-(-w // m) * m, 2 * m)
    z = torch.rand(1, 32, hp, wp, device=dev) * 0.1
    y = torch.rand(1, 1, h, w, device=dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    fwd, bwd, step = [], [], []
    peak_device = 0
    for i in range(args.steps + 1):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        inp = z + torch.randn_like(z) * 3e-5
        loss = tv(y - net(inp)[..., :h, :w], 1)
        sync()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        opt.step()
        sync()
        t3 = time.perf_counter()
        if cuda:
            free, total = torch.cuda.mem_get_info(dev)
            peak_device = max(peak_device, total - free)
        if i > 0:  # the first step warms up allocators and kernels
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            step.append(t3 - t0)
    med = lambda v: sorted(v)[len(v) // 2] * 1e3  # noqa: E731
    print(json.dumps({
        "fwd_ms": med(fwd), "bwd_ms": med(bwd), "step_ms": med(step),
        "peak_rss": peak_device if cuda else peak_rss_bytes(), "threads": torch.get_num_threads(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
