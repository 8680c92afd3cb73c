"""ETTh1 under the standard long-term forecasting protocol: rnnkit's SegRNN-mode Forecaster
against DLinear (Zeng et al. 2023), both trained here, in one process.

Protocol (../shared/data/README.md): multivariate (all 7 channels in, all 7 out), look-back
96, horizons 96/192/336/720; rows 0-8639 train, 8640-11519 validation, 11520-14399 test, the
look-back of validation and test windows taken from the rows before each split; every channel
standardised with the training rows' mean and std; MSE and MAE on the standardised test
windows, averaged over all windows, steps and channels. All 2785 (H=96) ... 2161 (H=720) test
windows are scored (no drop_last).

    python benchmarks/ett.py                       # all four horizons
    python benchmarks/ett.py --horizons 96 --epochs 3   # a quick look

Data: --data PATH, or $RNNKIT_DATA/ett/ETTh1.csv (default ../shared/data).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from torch import nn

import rnnkit
from rnnkit.apps.forecast.prepare import prepare
from rnnkit.models.forecaster import Forecaster

# published at look-back 96 (MSE, MAE): SegRNN from the table; DLinear as reported by
# the iTransformer paper's unified table (the LTSF-Linear paper's own look-back-96 run: .374)
PUBLISHED = {
    "SegRNN": {96: (0.368, 0.395)},
    "DLinear": {96: (0.386, 0.400), 192: (0.437, 0.432), 336: (0.481, 0.459),
                720: (0.519, 0.516)},
}


# epoch caps per horizon: a long horizon costs more per epoch (its decoder writes 30 segments
# at H=720) and converges in fewer epochs; early stopping on validation may end runs sooner
EPOCHS = {96: 12, 192: 10, 336: 8, 720: 5}


class DLinear(nn.Module):
    """DLinear (Zeng et al. 2023, "Are Transformers Effective for Time Series Forecasting?"):
    x = trend + seasonal with trend a moving average (kernel 25, edge-replicated), then one
    linear map over time for each part, shared by the channels (individual=False)."""

    def __init__(self, lookback: int, horizon: int, kernel: int = 25):
        super().__init__()
        self.kernel = kernel
        self.seasonal = nn.Linear(lookback, horizon)
        self.trend = nn.Linear(lookback, horizon)  # torch's default init, as the reference

    def forward(self, x):  # (B, L, C) -> (B, H, C)
        pad = (self.kernel - 1) // 2
        padded = torch.cat([x[:, :1].expand(-1, pad, -1), x, x[:, -1:].expand(-1, pad, -1)], 1)
        trend = nn.functional.avg_pool1d(padded.transpose(1, 2), self.kernel, stride=1)
        seasonal = x.transpose(1, 2) - trend  # (B, C, L)
        return (self.seasonal(seasonal) + self.trend(trend)).transpose(1, 2)


def scores(model, x, y, batch_size=512):
    model.eval()
    se = ae = 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            p = model(x[i:i + batch_size])
            d = p - y[i:i + batch_size]
            se += float(d.double().square().sum())
            ae += float(d.double().abs().sum())
    n = y.numel()
    return se / n, ae / n


def run_horizon(csv, H, args):
    prep = prepare(csv, lookback=96, horizon=H, time_col="date", target="all", features="all",
                   split="8640,2880,2880")
    (xtr, _, ytr), (xva, _, yva), (xte, _, yte) = (prep.windows(p).arrays()
                                                    for p in ("train", "val", "test"))
    out = {"windows": (len(xtr), len(xva), len(xte))}

    # --- rnnkit: SegRNN mode, channel-independent GRU over 4 segments of 24 steps
    torch.manual_seed(args.seed)
    model = Forecaster(7, 96, H, mode="segrnn", cell="gru", hidden_size=args.hidden,
                       segment_length=24, dropout=0.5, norm="last", point_loss="mae")
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    # SegRNN's schedule ("type3"): lr for 3 epochs, then x0.9 per epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 if e < 3 else 0.9 ** (e - 2))
    t0, c0 = time.perf_counter(), time.process_time()
    epochs = args.epochs or EPOCHS.get(H, 10)
    hist = rnnkit.fit(model, (xtr, ytr), val_data=(xva, yva), epochs=epochs,
                      batch_size=256, loss=model.loss, optimizer=opt, schedule=sched,
                      early_stopping=args.patience, seed=args.seed, device="cpu",
                      progress=False)
    out["segrnn_s"] = time.perf_counter() - t0
    out["segrnn_cpu"] = time.process_time() - c0
    out["segrnn_epochs"] = (len(hist), hist.best_epoch)
    out["segrnn"] = scores(model, xte, yte)
    out["params"] = sum(p.numel() for p in model.parameters())

    # --- the anchor: DLinear as its paper trains it on ETTh1
    torch.manual_seed(args.seed)
    dl = DLinear(96, H)
    opt = torch.optim.Adam(dl.parameters(), lr=0.005)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5 ** e)  # "type1": halve per epoch
    t0, c0 = time.perf_counter(), time.process_time()
    hist = rnnkit.fit(dl, (xtr, ytr), val_data=(xva, yva), epochs=10, batch_size=32,
                      loss="mse", optimizer=opt, schedule=sched, early_stopping=3,
                      seed=args.seed, device="cpu", progress=False)
    out["dlinear_s"] = time.perf_counter() - t0
    out["dlinear_cpu"] = time.process_time() - c0
    out["dlinear"] = scores(dl, xte, yte)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="ETTh1.csv (default $RNNKIT_DATA/ett/ETTh1.csv)")
    p.add_argument("--horizons", default="96,192,336,720")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs for every horizon (default: EPOCHS, fewer for long horizons)")
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(os.environ.get("RNNKIT_DATA", Path(__file__).resolve().parents[2] / "shared"
                               / "data"))
    csv = Path(args.data) if args.data else root / "ett" / "ETTh1.csv"
    if not csv.is_file():
        raise SystemExit(f"ETTh1.csv not found at {csv}; pass --data or set RNNKIT_DATA")
    print(f"ETTh1, multivariate, look-back 96; rnnkit {rnnkit.__version__}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads")
    print(f"ours: Forecaster(mode='segrnn', cell='gru', hidden_size={args.hidden}, "
          f"segment_length=24, dropout=0.5, norm='last'), MAE loss, Adam lr {args.lr}, batch "
          f"256, <= {args.epochs or EPOCHS} epochs, early stopping {args.patience} on the "
          "validation MAE")
    print("anchor: DLinear (kernel 25, shared), MSE loss, Adam lr 0.005 halved per epoch, batch "
          "32, <= 10 epochs, early stopping 3")
    head = (f"{'H':>4} | {'ours MSE':>8} {'MAE':>6} | {'DLinear MSE':>11} {'MAE':>6} | "
            f"{'MSE ratio':>9} | {'published SegRNN':>16} {'DLinear':>12} | "
            f"{'epochs':>7} {'ours wall/CPU s':>15} {'DLinear wall/CPU s':>18}")
    rows = []
    for H in (int(h) for h in args.horizons.split(",")):
        r = run_horizon(csv, H, args)
        (sm, sa), (dm, da) = r["segrnn"], r["dlinear"]
        pub_s = PUBLISHED["SegRNN"].get(H)
        pub_d = PUBLISHED["DLinear"].get(H)
        pub = (f"{pub_s[0]:.3f}/{pub_s[1]:.3f}" if pub_s else "-")
        pubd = (f"{pub_d[0]:.3f}/{pub_d[1]:.3f}" if pub_d else "-")
        ep = f"{r['segrnn_epochs'][0]}({r['segrnn_epochs'][1]})"
        rows.append(f"{H:>4} | {sm:8.4f} {sa:6.4f} | {dm:11.4f} {da:6.4f} | {sm / dm:9.3f} | "
                    f"{pub:>16} {pubd:>12} | {ep:>7} "
                    f"{r['segrnn_s']:7.1f}/{r['segrnn_cpu']:7.1f} "
                    f"{r['dlinear_s']:9.1f}/{r['dlinear_cpu']:8.1f}")
        print(f"H={H}: windows train/val/test {r['windows']}, {r['params']:,} parameters; "
              f"ours {sm:.4f}/{sa:.4f}, DLinear {dm:.4f}/{da:.4f}", flush=True)
    print()
    print(head)
    print("-" * len(head))
    print("\n".join(rows))
    print("\nMSE ratio < 1: rnnkit ahead of DLinear. epochs: run (best by validation loss). "
          "Times: training (with the per-epoch validation) in wall-clock seconds / process CPU "
          "seconds (both threads).")


if __name__ == "__main__":
    main()
