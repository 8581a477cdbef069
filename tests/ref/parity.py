"""Compare maepipe's forward/backward with the PyTorch reference (tests/ref/mae_ref.py).

usage: parity.py DIR [NAME]
DIR holds model.safetensors (a maepipe checkpoint) and state.safetensors (the batch, maepipe's
loss, predictions and every parameter gradient), as written by test_model_parity --dump.
Prints TAP lines without a plan (the caller numbers and plans); exits 1 on any mismatch.

Errors: loss |a-b|/|b|; predictions and gradients max|a-b| / max|b| per tensor. With SupMAE's
branch, also its loss term (rel <= 1e-5) and the latent's gradient the decoder stage sends back,
the branch's part included (rel <= 1e-4).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mae_ref import Ref, read_safetensors  # noqa: E402

LOSS_TOL, PRED_TOL, GRAD_TOL = 1e-5, 1e-4, 1e-4


def main():
    d = sys.argv[1]
    name = sys.argv[2] if len(sys.argv) > 2 else d
    torch.manual_seed(0)
    torch.set_num_threads(1)
    weights, meta = read_safetensors(os.path.join(d, "model.safetensors"))
    state, _ = read_safetensors(os.path.join(d, "state.safetensors"))
    model = Ref(meta)
    sd = {k: torch.from_numpy(v) for k, v in weights.items()}
    missing = model.load_state_dict(sd, strict=True)   # raises on any name or shape mismatch
    lines, bad = [], 0

    def check(cond, msg):
        nonlocal bad
        lines.append(("ok" if cond else "not ok") + " - " + name + ": " + msg)
        bad += not cond

    check(not missing.missing_keys and not missing.unexpected_keys,
          "maepipe checkpoint loads with load_state_dict(strict=True) (%d tensors)" % len(sd))
    # the fixed tables maepipe wrote equal MAE's util/pos_embed.py (images), MVD's 3-D sin-cos
    # (clips, pos=1) or VideoMAE's sinusoid table (pos=2), each from its own code in mae_ref
    from mae_ref import pos_table
    which = ("VideoMAE's get_sinusoid_encoding_table" if int(meta["pos"]) == 2 else
             "get_3d_sincos_pos_embed" if model.gt > 1 else "util/pos_embed.py")
    for key in ("pos_embed", "decoder_pos_embed"):
        if key in weights:
            ref = pos_table(meta, weights[key].shape[2]).astype(np.float32)
            e = np.abs(weights[key][0] - ref).max()
            check(e < 1e-6, "%s equals %s (max diff %.2g)" % (key, which, e))

    t = lambda k: torch.from_numpy(state[k])
    patches = t("batch.patches")
    mask = t("batch.mask") if meta["mode"] != "mfm" else None
    loss_c = float(state["out.loss"][0])
    pred, loss = model(patches, mask, windows=t("batch.windows").long(),
                       target=t("batch.target") if meta["mode"] == "mfm" else None,
                       fmask=t("batch.fmask"), labels=t("batch.label").long() if "batch.label" in state else None,
                       feature_target=t("batch.feature_target") if "batch.feature_target" in state else None,
                       contrast_target=t("batch.contrast_target") if "batch.contrast_target" in state else None)
    loss.backward()
    el = abs(loss_c - loss.item()) / abs(loss.item())
    check(el <= LOSS_TOL, "loss %.7f vs torch %.7f (rel %.2g)" % (loss_c, loss.item(), el))
    if "out.sup_loss" in state:
        sc, st = float(state["out.sup_loss"][0]), model.sup_loss.item()
        es = abs(sc - st) / abs(st)
        check(es <= LOSS_TOL, "SupMAE's term %.7f vs torch %.7f (rel %.2g)" % (sc, st, es))
    if "out.cl_loss" in state:
        cc, ct = float(state["out.cl_loss"][0]), model.cl_loss.item()
        ec = abs(cc - ct) / abs(ct)
        check(ec <= LOSS_TOL, "CMAE's term %.7f vs torch %.7f (rel %.2g)" % (cc, ct, ec))
    if "out.dlatent" in state:
        dl, dt = state["out.dlatent"], model.latent.grad.numpy()
        ed = np.abs(dl - dt).max() / np.abs(dt).max()
        check(ed <= GRAD_TOL and dl.shape == dt.shape, "dlatent, the branch's gradient included (rel %.2g)" % ed)
    pt = pred.detach().numpy()
    ep = np.abs(state["out.pred"] - pt).max() / np.abs(pt).max()
    check(ep <= PRED_TOL and state["out.pred"].shape == pt.shape, "predictions (rel %.2g)" % ep)
    if "out.pred_feature" in state:   # BootMAE: the feature decoder's predictions
        pf = model.pred_feature.detach().numpy()
        ef = np.abs(state["out.pred_feature"] - pf).max() / np.abs(pf).max()
        check(ef <= PRED_TOL and state["out.pred_feature"].shape == pf.shape,
              "feature predictions (rel %.2g), feature loss %.6f" % (ef, model.loss_feature.item()))
    worst, wname, n = 0.0, "", 0
    for pname, p in model.named_parameters():
        if not p.requires_grad:
            continue
        g = p.grad.numpy() if p.grad is not None else np.zeros(p.shape, np.float32)
        gc = state["grad." + pname]
        scale = np.abs(g).max()
        if pname in ("head.0.bias", "projector.0.bias", "projector.3.bias", "predictor.0.bias"):
            # it feeds BatchNorm (projector.3.bias through predictor.0, a linear map), which
            # subtracts the batch's mean: its gradient is 0 but for rounding on both sides, so
            # the error is measured on the scale of the same layer's weight
            scale = np.abs(dict(model.named_parameters())[pname[:-4] + "weight"].grad.numpy()).max()
        e = np.abs(gc - g).max() / scale if scale > 0 else np.abs(gc).max()
        n += 1
        if e > worst:
            worst, wname = e, pname
    check(worst <= GRAD_TOL and n == sum(1 for k in state if k.startswith("grad.")),
          "%d parameter gradients (worst rel %.2g: %s)" % (n, worst, wname))
    print("\n".join(lines))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
