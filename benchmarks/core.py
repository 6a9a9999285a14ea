"""transformer_core vs PyTorch's own modules, reported as ratios from one run.

    .venv/bin/python benchmarks/core.py [--quick] [--device cpu|cuda]

Every pair is timed interleaved (ours, theirs, ours, theirs, ...) on the same inputs and
threads, and each side keeps its best time, so background load affects both alike.
Ratio = ours / reference (lower is better; 1.00 = parity).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transformer_core.attention import fused_attention, scaled_dot_product_attention  # noqa: E402
from transformer_core.device import get_device  # noqa: E402
from transformer_core.generate import generate  # noqa: E402
from transformer_core.layers import EncoderLayer  # noqa: E402
from transformer_core.models import GPT, TransformerConfig  # noqa: E402
from transformer_core.multihead import MultiHeadAttention  # noqa: E402
from transformer_core.train import copy_task_accuracy, train_copy_task  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def best_times(fns: list[Callable[[], object]], device: torch.device, repeats: int, inner: int = 1) -> list[float]:
    """Seconds per call (best of ``repeats``) for each fn, timed interleaved."""
    for fn in fns:  # warm-up
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            sync(device)
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            sync(device)
            best[i] = min(best[i], (time.perf_counter() - t0) / inner)
    return best


def fwd_bwd(module: nn.Module, *args, **kwargs) -> Callable[[], None]:
    def run() -> None:
        out = module(*args, **kwargs)
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()

    return run


def bench_attention(device: torch.device, repeats: int, L: int) -> list[tuple]:
    torch.manual_seed(0)
    q, k, v = (torch.randn(4, 8, L, 64, device=device) for _ in range(3))
    rows = []
    for causal in (False, True):
        ref = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # noqa: E731
        explicit = lambda: scaled_dot_product_attention(q, k, v, causal=causal)  # noqa: E731
        fused = lambda: fused_attention(q, k, v, causal=causal)  # noqa: E731
        t_exp, t_fused, t_ref = best_times([explicit, fused, ref], device, repeats, inner=3)
        tag = "causal" if causal else "full"
        rows.append((f"explicit attention ({tag}, L={L}) vs F.sdpa", t_exp, t_ref, "-"))
        rows.append((f"fused attention ({tag}, L={L}) vs F.sdpa", t_fused, t_ref, "<= 1.10"))
    return rows


def bench_mha(device: torch.device, repeats: int) -> list[tuple]:
    torch.manual_seed(0)
    d, h, B, L = 256, 8, 8, 128
    ref = nn.MultiheadAttention(d, h, batch_first=True).to(device)
    ours = MultiHeadAttention(d, h).to(device)
    x = torch.randn(B, L, d, device=device, requires_grad=True)
    t_ours, t_ref = best_times(
        [fwd_bwd(ours, x), fwd_bwd(ref, x, x, x, need_weights=False)], device, repeats
    )
    not_allowed = torch.ones(L, L, dtype=torch.bool, device=device).triu(1)
    t_ours_c, t_ref_c = best_times(
        [fwd_bwd(ours, x, causal=True), fwd_bwd(ref, x, x, x, attn_mask=not_allowed, need_weights=False)], device, repeats
    )
    return [
        (f"MultiHeadAttention fwd+bwd vs nn.MultiheadAttention (d={d}, L={L})", t_ours, t_ref, "<= 1.10"),
        ("  same, causal", t_ours_c, t_ref_c, "<= 1.10"),
    ]


def bench_encoder_layer(device: torch.device, repeats: int) -> list[tuple]:
    torch.manual_seed(0)
    d, h, ff, B, L = 256, 8, 1024, 8, 128
    ref = nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, batch_first=True).to(device)
    ours = EncoderLayer(d, h, ff).to(device)
    x = torch.randn(B, L, d, device=device, requires_grad=True)
    t_ours, t_ref = best_times([fwd_bwd(ours, x), fwd_bwd(ref, x)], device, repeats)
    ref.eval()
    ours.eval()
    xi = x.detach()
    with torch.inference_mode():
        t_ours_i, t_ref_i = best_times([lambda: ours(xi), lambda: ref(xi)], device, repeats)
    return [
        (f"EncoderLayer fwd+bwd vs nn.TransformerEncoderLayer (d={d}, L={L})", t_ours, t_ref, "-"),
        ("  inference (torch uses its fused fast path)", t_ours_i, t_ref_i, "-"),
    ]


def bench_kv_cache(device: torch.device, lengths: list[int]) -> list[tuple]:
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=128, d_model=64, n_heads=4, n_layers=2, d_ff=256, max_len=max(lengths) + 1,
                            norm_first=True, positional="learned")
    model = GPT(cfg).to(device).eval()
    prompt = torch.randint(0, 128, (1, 1), device=device)
    rows = []
    for n in lengths:
        runs = {}
        for use_cache in (True, False):
            sync(device)
            t0 = time.perf_counter()
            runs[use_cache] = generate(model, prompt, n, greedy=True, use_cache=use_cache)
            sync(device)
            runs[f"t{use_cache}"] = time.perf_counter() - t0
        assert torch.equal(runs[True], runs[False]), "KV cache changed the generated tokens"
        target = ">= 5x faster" if n >= 1024 else "-"
        rows.append((f"generate {n} tokens: KV cache vs recompute", runs["tTrue"], runs["tFalse"], target))
    return rows


def bench_copy_task(device: torch.device, steps: int) -> list[tuple]:
    t0, c0 = time.perf_counter(), time.process_time()
    model, _ = train_copy_task(steps=steps, seed=0, device=device)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    acc = copy_task_accuracy(model, length=10, vocab=11)
    # CPU time next to wall time: on a shared machine the wall clock mostly measures the neighbours.
    return [(f"copy task: {steps} steps, greedy token accuracy {acc:.1%}, CPU time {cpu:.1f} s", seconds, None, "< 60 s")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, shorter generation")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: transformer_core.device.get_device())")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--only", default=None, help="comma-separated sections: attention,mha,encoder,kv,copy")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else get_device()
    repeats = 3 if args.quick else 10
    lengths = [256] if args.quick else [256, 1024]

    rows: list[tuple] = []
    sections = [
        ("attention", lambda: bench_attention(device, repeats, L=512)),
        ("multi-head attention", lambda: bench_mha(device, repeats)),
        ("encoder layer", lambda: bench_encoder_layer(device, repeats)),
        ("KV cache", lambda: bench_kv_cache(device, lengths)),
        ("copy task", lambda: bench_copy_task(device, steps=300)),
    ]
    keys = dict(zip(("attention", "mha", "encoder", "kv", "copy"), sections))
    if args.only:
        sections = [keys[k] for k in args.only.split(",")]
    for title, run in sections:
        t0 = time.perf_counter()
        rows += run()
        print(f"[{title}: {time.perf_counter() - t0:.1f} s]", file=sys.stderr, flush=True)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    print(f"transformer_core benchmark — torch {torch.__version__}, device {device} ({name}), "
          f"{torch.get_num_threads()} threads, python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    width = max(len(r[0]) for r in rows)
    print(f"| {'measurement':<{width}} | {'ours':>10} | {'reference':>10} | {'ratio':>6} | target |")
    print(f"|{'-' * (width + 2)}|{'-' * 12}|{'-' * 12}|{'-' * 8}|--------|")

    def fmt(t: float) -> str:
        return f"{t:8.2f} s" if t >= 1 else f"{t * 1e3:7.2f} ms"

    for label, ours, ref, target in rows:
        if ref is None:
            print(f"| {label:<{width}} | {fmt(ours):>10} | {'':>10} | {'':>6} | {target} |")
        elif "KV cache" in label:
            print(f"| {label:<{width}} | {fmt(ours):>10} | {fmt(ref):>10} | {ref / ours:5.1f}x | {target} |")
        else:
            print(f"| {label:<{width}} | {fmt(ours):>10} | {fmt(ref):>10} | {ours / ref:6.2f} | {target} |")
    print("ratio = ours / reference, except KV-cache rows: speed-up = recompute / cache.")


if __name__ == "__main__":
    main()
